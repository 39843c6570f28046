import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzOutboxRecord.self, data, size) }
