import Foundation
import Testing

/// Every checked-in corpus file and fail case of every fuzz target, through the target's entry
/// point, without libFuzzer: a decoder that traps or breaks a property again fails `make test`.
@Suite struct FuzzReplayTests {
    /// The `Fuzz/` folder of this checkout.
    static let fuzzFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// One input of one target.
    struct Input: CustomTestStringConvertible, Sendable {
        let target: String
        let path: String
        var testDescription: String {
            let url = URL(fileURLWithPath: path)
            return
                "\(target): \(url.deletingLastPathComponent().deletingLastPathComponent().lastPathComponent)/\(url.lastPathComponent)"
        }
    }

    /// The files of `Corpus/NAME` and `FailCases/NAME` for every target.
    static func inputs() -> [Input] {
        var inputs: [Input] = []
        for target in FuzzTargets.all {
            for folder in ["Corpus", "FailCases"] {
                let directory = fuzzFolder.appendingPathComponent(folder).appendingPathComponent(target.name)
                let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
                for name in names.sorted() where !name.hasPrefix(".") {
                    inputs.append(Input(target: target.name, path: directory.appendingPathComponent(name).path))
                }
            }
        }
        return inputs
    }

    @Test func everyTargetHasASeedCorpus() {
        for target in FuzzTargets.all {
            let seeds = Self.inputs().filter { $0.target == target.name && $0.path.contains("/Corpus/") }
            #expect(!seeds.isEmpty, "Fuzz/Corpus/\(target.name) holds no seed")
        }
    }

    @Test(.serialized, arguments: inputs())
    func replays(_ input: Input) async throws {
        let target = try #require(FuzzTargets.all.first { $0.name == input.target })
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: input.path)))
        // On a thread of its own: some targets wait for async work (a send, a drain), which must
        // not park a thread of the concurrency pool the rest of the suite runs on.
        let violation = await withCheckedContinuation { (done: CheckedContinuation<PropertyViolation?, Never>) in
            Thread {
                do {
                    try target.run(bytes)
                    done.resume(returning: nil)
                } catch let violation as PropertyViolation {
                    done.resume(returning: violation)
                } catch {
                    done.resume(returning: PropertyViolation("threw \(error)"))
                }
            }.start()
        }
        #expect(violation == nil, "\(input.testDescription): \(violation?.description ?? "")")
    }
}
