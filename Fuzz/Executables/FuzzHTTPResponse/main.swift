import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzHTTPResponse.self, data, size) }
