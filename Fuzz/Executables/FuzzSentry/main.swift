import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzSentry.self, data, size) }
