import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzOTLPResponse.self, data, size) }
