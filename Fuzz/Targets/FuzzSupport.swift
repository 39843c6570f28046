import Foundation
import StewardCore
import StewardTesting

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads structured values from a fuzz input, front to back; once the bytes run out every read
/// returns zero or empty, so any input is a valid sequence of choices.
struct FuzzReader {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isEmpty: Bool { position >= bytes.count }
    /// The bytes not read yet.
    var rest: [UInt8] { position < bytes.count ? Array(bytes[position...]) : [] }

    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func bool() -> Bool { byte() & 1 == 1 }

    mutating func u16() -> UInt16 { UInt16(byte()) | UInt16(byte()) << 8 }

    mutating func u32() -> UInt32 { UInt32(u16()) | UInt32(u16()) << 16 }

    mutating func u64() -> UInt64 { UInt64(u32()) | UInt64(u32()) << 32 }

    /// Up to `limit` bytes, the count taken from the input first.
    mutating func bytes(upTo limit: Int) -> [UInt8] {
        let wanted = Int(u16()) % (limit + 1)
        let count = min(wanted, bytes.count - min(position, bytes.count))
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    /// A string of up to `limit` bytes (invalid UTF-8 repaired, as Swift does).
    mutating func string(upTo limit: Int) -> String { String(decoding: bytes(upTo: limit), as: UTF8.self) }

    /// One of `choices`.
    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(byte()) % choices.count] }
}

/// A folder for targets that need files: one per process under /dev/shm when it exists (no
/// disk writes, so fsync costs nothing), emptied for every input.
enum Scratch {
    private static let root: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let path = base + "/steward-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Scratch.rootPath) }
        return path
    }()

    fileprivate static var rootPath: String { root }

    /// An empty folder called `name` (0700), for this input only.
    static func fresh(_ name: String) -> String {
        let path = root + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return path
    }

    /// Writes `bytes` to `path`, creating its folder.
    static func write(_ bytes: [UInt8], to path: String) {
        let folder = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(
            atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
    }
}

/// One fixed key for every vault a target opens, so a seed made by `MakeSeeds` decrypts in
/// every run.
struct FixedKeyProvider: KeyProvider {
    static let keyBytes: [UInt8] = Array(0..<32)

    func key(named name: String, createIfMissing: Bool) throws -> SymmetricKey {
        try SymmetricKey(copying: Self.keyBytes)
    }

    func destroyKey(named name: String) throws {}
}

/// The date every target's clock shows: 2026-01-01T00:00:00Z.
let fuzzNow = Date(timeIntervalSince1970: 1_767_225_600)
/// A clock showing ``fuzzNow``.
let fuzzClock = ManualWallClock(now: fuzzNow)

/// The example app's manifest (Examples/steward/example-manifest.json), decoded once.
let exampleManifest: PrivacyManifest = {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/steward/example-manifest.json").path
    guard let bytes = FileManager.default.contents(atPath: path),
        let manifest = try? PrivacyManifest.decode(json: [UInt8](bytes), now: fuzzNow)
    else {
        fatalError("fuzz targets need the example manifest at \(path)")
    }
    return manifest
}()

/// Runs `body`; an error it throws must be one of `allowed` (by type), else the property is
/// broken. Returns nil when it threw.
func typed<T>(_ what: String, _ allowed: [any Error.Type], _ body: () throws -> T) throws(PropertyViolation) -> T? {
    do {
        return try body()
    } catch {
        let thrown = ObjectIdentifier(type(of: error))
        try require(
            allowed.contains { ObjectIdentifier($0) == thrown },
            "\(what) threw \(type(of: error)) (\(error)), not one of \(allowed)")
        return nil
    }
}
