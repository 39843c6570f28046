import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzEXIF.self, data, size) }
