import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzConsentReceipts.self, data, size) }
