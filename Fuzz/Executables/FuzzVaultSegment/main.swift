import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzVaultSegment.self, data, size) }
