import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzOutboxFolder.self, data, size) }
