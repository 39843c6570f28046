import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzHTTPRequest.self, data, size) }
