import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzRetryAfter.self, data, size) }
