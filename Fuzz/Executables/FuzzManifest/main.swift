import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzManifest.self, data, size) }
