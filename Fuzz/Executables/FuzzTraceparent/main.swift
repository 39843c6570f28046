import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzTraceparent.self, data, size) }
