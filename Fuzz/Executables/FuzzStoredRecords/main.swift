import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzStoredRecords.self, data, size) }
