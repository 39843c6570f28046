import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzSystemFiles.self, data, size) }
