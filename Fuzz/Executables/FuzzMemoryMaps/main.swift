import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzMemoryMaps.self, data, size) }
