import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzVaultMeta.self, data, size) }
