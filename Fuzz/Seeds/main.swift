// Writes the seed corpora made by running Steward (a real vault, receipts, a crash record, …)
// into Fuzz/Corpus. Run from Fuzz/: swift run -c release MakeSeeds (see Documentation/Fuzzing.md).
import Foundation
import FuzzTargets

let corpus =
    CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : FileManager.default.currentDirectoryPath + "/Corpus"
do {
    try FuzzSeeds.write(to: corpus)
    print("seeds written to \(corpus)")
} catch {
    print("MakeSeeds: \(error)")
    exit(1)
}
