import FuzzDriver
import FuzzTargets

runFuzzer { data, size in check(FuzzOTelEnvironment.self, data, size) }
