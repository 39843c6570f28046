import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzIdentifierFilter.self, data, size) }
