import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzELF.self, data, size) }
