import Foundation

/// One fuzz target: a decoder of bytes from outside the process or from disk, and the
/// properties its results must keep.
///
/// `run` is called with every input libFuzzer makes (through the executable of the same name)
/// and with every checked-in corpus file and fail case (through the replay tests of
/// `make test`). It must return for any input: a typed error from the decoder is an expected
/// outcome. It throws ``PropertyViolation`` when a property the target checks is broken; a
/// trap inside the decoder is the bug the fuzzer looks for.
public protocol FuzzTarget: Sendable {
    /// The executable's name, which is also the name of its corpus folder, fail-case folder and
    /// dictionary.
    static var name: String { get }
    /// Decodes `input` and checks the target's properties.
    static func run(_ input: [UInt8]) throws(PropertyViolation)
}

/// A property of a decoder that an input broke.
public struct PropertyViolation: Error, CustomStringConvertible {
    /// What was expected and what happened.
    public let description: String

    public init(_ description: String) { self.description = description }
}

/// Throws a ``PropertyViolation`` with `message` unless `condition` holds.
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(PropertyViolation) {
    if !condition { throw PropertyViolation(message()) }
}

/// Every fuzz target, by name: the executables, `make fuzz` and the replay tests use this list.
public enum FuzzTargets {
    public static let all: [any FuzzTarget.Type] = [
        FuzzImage.self,
        FuzzEXIF.self,
        FuzzManifest.self,
        FuzzVaultSegment.self,
        FuzzVaultMeta.self,
        FuzzVaultRoundTrip.self,
        FuzzConsentReceipts.self,
        FuzzCrashRecord.self,
        FuzzELF.self,
        FuzzDWARF.self,
        FuzzMemoryMaps.self,
        FuzzMemoryCgroup.self,
        FuzzRuntimeBacktrace.self,
        FuzzSentry.self,
        FuzzOTLPResponse.self,
        FuzzOTelEnvironment.self,
        FuzzBatchCoding.self,
        FuzzRetryAfter.self,
        FuzzOutboxRecord.self,
        FuzzOutboxFolder.self,
        FuzzIdentifierFilter.self,
        FuzzKeyFile.self,
        FuzzHTTPRequest.self,
        FuzzHTTPResponse.self,
        FuzzStoredRecords.self,
        FuzzSystemFiles.self,
        FuzzTraceparent.self,
    ]
}
