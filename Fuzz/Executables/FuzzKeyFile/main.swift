import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzKeyFile.self, data, size) }
