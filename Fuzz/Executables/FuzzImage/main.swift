import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzImage.self, data, size) }
