import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzVaultRoundTrip.self, data, size) }
