import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzCrashRecord.self, data, size) }
