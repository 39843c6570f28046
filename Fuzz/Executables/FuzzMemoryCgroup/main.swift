import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzMemoryCgroup.self, data, size) }
