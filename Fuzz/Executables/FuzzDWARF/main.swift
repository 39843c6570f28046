import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzDWARF.self, data, size) }
