import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzRuntimeBacktrace.self, data, size) }
