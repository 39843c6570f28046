import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzBatchCoding.self, data, size) }
