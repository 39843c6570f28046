import Foundation
@testable import StewardCore
@testable import StewardCrash

/// A raw crash record as the handler would have left it in the crash folder: the record stream
/// parsed on its own; the input read as a sealed file (header, chunk walk, authentication); then
/// the stream sealed under the vault's derived key, as the handler seals it, and the input as
/// it is, both processed by a `CrashReporter` at "next launch" into reports in the vault.
///
/// Checks: the parse never traps and keeps its documented bounds (at most 128 frames per
/// method, a complete record has its END section); opening never returns more than the file
/// holds, and nothing opens under a wrong key; processing never traps, consumes the sealed
/// record (it is not left to be processed again), and stores at most one report, which can
/// only come from the sealed record (unsealed bytes are never trusted).
public enum FuzzCrashRecord: FuzzTarget {
    public static let name = "FuzzCrashRecord"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        let record = RawCrashRecord.parse(input)
        try require(
            record.dwarfFrames.count <= 128 && record.framePointerFrames.count <= 128,
            "a record parsed to \(record.dwarfFrames.count) DWARF and \(record.framePointerFrames.count) frame-pointer frames"
        )
        _ = RawCrashRecord.breadcrumb(from: input)
        if let header = SealedCrashRecord.header(of: input) {
            let opened = SealedCrashRecord.open(input, header: header, key: [UInt8](repeating: 7, count: 32))
            try require(
                opened.stream.count <= input.count, "opening made \(opened.stream.count) bytes of \(input.count)")
            try require(opened.chunks == 0, "a chunk of made-up bytes authenticated under a key nobody used")
        }
        guard record.complete else { return }  // an incomplete record may still be being written

        let folder = Scratch.fresh("crash")
        let crashes = folder + "/crash"
        guard let vault = try openFuzzVault(folder + "/vault") else {
            throw PropertyViolation("a new vault did not open")
        }
        let salt = [UInt8](repeating: 3, count: 16)
        guard
            let key = try typed(
                "derivedKey", vaultErrors + [CryptoError.self],
                {
                    try vault.derivedKey(label: SealedCrashRecord.keyLabel, salt: salt)
                })
        else { throw PropertyViolation("no derived key") }
        Scratch.write(
            SealedCrashRecord.seal(input, key: key, salt: salt, pid: 0, number: 0),
            to: crashes + "/crash-1-1-1.stewardcrash")
        Scratch.write(input, to: crashes + "/crash-2-2-2.stewardcrash")
        guard
            let ledger = try typed(
                "ConsentLedger", vaultErrors + [ConsentError.self],
                {
                    try ConsentLedger(manifest: exampleManifest, vault: vault, clock: fuzzClock)
                })
        else { throw PropertyViolation("a new ledger did not open") }
        let gate = ConsentGate(ledger: ledger, vault: vault, clock: fuzzClock)
        let reporter = CrashReporter(
            configuration: .init(crashDirectory: crashes, symbolication: .none),
            vault: vault, consent: gate, clock: fuzzClock)
        let result = reporter.processPending()
        try require(result.reports.count <= 1, "one record made \(result.reports.count) reports")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: crashes)) ?? []
        try require(
            !left.contains("crash-1-1-1.stewardcrash"), "the sealed record was left to be processed again: \(left)")
        _ = try typed("storedReports", vaultErrors + [DecodingError.self]) { try reporter.storedReports() }
        _ = try typed("close", vaultErrors) { try vault.close() }
    }
}

/// The ELF reader on a whole file: build id, load segments, symbols, and lookups.
///
/// Checks: only ``ELFFile/ELFError``; symbols come out sorted by address; a symbol found for
/// an address contains it (or is the nearest unsized one within the documented distance).
public enum FuzzELF: FuzzTarget {
    public static let name = "FuzzELF"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        let file: ELFFile
        do {
            file = try ELFFile(bytes: input)
        } catch {
            return  // typed: ELFError is the init's only error
        }
        _ = file.buildIDHex
        try require(
            zip(file.symbols, file.symbols.dropFirst()).allSatisfy { $0.value <= $1.value },
            "symbols are not sorted by address")
        var probes: [UInt64] = [0, 1, .max, .max - 1]
        for symbol in file.symbols.prefix(64) {
            probes += [symbol.value, symbol.value &+ symbol.size / 2, symbol.value &+ symbol.size, symbol.value &- 1]
        }
        for segment in file.loadSegments.prefix(16) { probes += [segment.vaddr, segment.vaddr &+ segment.memorySize] }
        for address in probes {
            guard let symbol = file.symbol(containing: address) else { continue }
            let inside =
                symbol.size > 0
                ? address &- symbol.value < symbol.size : address &- symbol.value <= ELFFile.maximumUnsizedDistance
            try require(
                address >= symbol.value && inside,
                "symbol \(symbol.name) at \(symbol.value) (+\(symbol.size)) was given for address \(address)")
        }
        for segment in file.loadSegments.prefix(16) {
            _ = file.loadSegment(forMappingOffset: segment.offset, pageSize: 4096)
            _ = file.loadSegment(forMappingOffset: segment.offset, pageSize: 0)
        }
    }
}

/// `/proc/self/maps` text (as a crash record carries it) parsed into mappings and images.
///
/// Checks: every mapping parsed has start < end; images are sorted and hold their mappings;
/// each line written back in the kernel's format parses to the same mapping; lookups of
/// addresses in and around the mappings agree with `contains`.
public enum FuzzMemoryMaps: FuzzTarget {
    public static let name = "FuzzMemoryMaps"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        let maps = MemoryMaps(parsing: String(decoding: input, as: UTF8.self))
        for mapping in maps.mappings.prefix(256) {
            let hex = { (value: UInt64) in String(value, radix: 16) }
            var line =
                "\(hex(mapping.start))-\(hex(mapping.end)) \(mapping.permissions) \(hex(mapping.offset)) \(mapping.device) \(mapping.inode)"
            if let path = mapping.path { line += " " + path + (mapping.deleted ? " (deleted)" : "") }
            let again = MemoryMaps.parseLine(Substring(line))
            try require(
                again == mapping,
                "the mapping \(mapping) written back as \"\(line)\" parsed to \(String(describing: again))")
            for address in [mapping.start, mapping.end &- 1, mapping.end] {
                if let found = maps.mapping(containing: address) {
                    try require(found.contains(address), "mapping(containing: \(address)) gave \(found)")
                }
                if let image = maps.image(containing: address) {
                    try require(image.contains(address), "image(containing: \(address)) gave \(image.path)")
                    _ = image.loadMapping
                }
            }
        }
        try require(
            zip(maps.images, maps.images.dropFirst()).allSatisfy { $0.start <= $1.start }, "images are not sorted")
        for image in maps.images.prefix(256) {
            try require(
                !image.mappings.isEmpty && image.mappings.allSatisfy { $0.start >= image.start && $0.end <= image.end },
                "image \(image.path) does not hold its mappings")
        }
    }
}

/// The Swift runtime backtracer's JSON crash log (`SWIFT_BACKTRACE=format=json`), which the
/// reporter merges into the report of the same crash.
///
/// Checks: the parse and the merge never trap, and the merge keeps the report's identity.
public enum FuzzRuntimeBacktrace: FuzzTarget {
    public static let name = "FuzzRuntimeBacktrace"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        guard let backtrace = RuntimeBacktrace.parse(input) else { return }
        // A report of the same crash: its frames at the addresses the log names.
        let addresses = backtrace.threads.flatMap { $0.frames.map(\.address) }.prefix(128)
        let thread = CrashThread(id: 1, frames: addresses.map { StackFrame(instructionAddress: $0) })
        var report = CrashReport(
            id: "0123456789abcdef0123456789abcdef", timestamp: fuzzNow, handled: false, crashedThread: thread)
        backtrace.merge(into: &report) { $0 }
        try require(report.id == "0123456789abcdef0123456789abcdef", "the merge changed the report's id")
        try require(
            report.crashedThread.frames.map(\.instructionAddress) == Array(addresses),
            "the merge changed the crashed thread's frames")
    }
}

/// Sentry's DSN, envelope and JSON decoders.
///
/// Input: a selector byte, then the text. Checks: only ``SentryError``; a DSN's redacted form
/// parses to the same endpoint; a decoded envelope or JSON value encodes to bytes that decode
/// again and encode the same (encoding is a fixed point).
public enum FuzzSentry: FuzzTarget {
    public static let name = "FuzzSentry"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        guard let selector = input.first else { return }
        let body = Array(input.dropFirst())
        switch selector % 3 {
        case 0:
            guard
                let dsn = try typed(
                    "SentryDSN", [SentryError.self], { try SentryDSN(String(decoding: body, as: UTF8.self)) })
            else { return }
            _ = dsn.authHeader()
            _ = dsn.headers()
            let again: SentryDSN
            do { again = try SentryDSN(dsn.redacted) } catch {
                throw PropertyViolation("the redacted DSN \(dsn.redacted) does not parse: \(error)")
            }
            try require(
                again.envelopeURL == dsn.envelopeURL && again.publicKey == dsn.publicKey
                    && again.projectID == dsn.projectID,
                "the redacted DSN \(dsn.redacted) names another endpoint")
        case 1:
            guard
                let envelope = try typed(
                    "SentryEnvelope.decode", [SentryError.self], { try SentryEnvelope.decode(body) })
            else { return }
            let encoded = envelope.encode()
            let again: SentryEnvelope
            do { again = try SentryEnvelope.decode(encoded) } catch {
                throw PropertyViolation("an encoded envelope does not decode: \(error)")
            }
            try require(again.encode() == encoded, "encoding a decoded envelope is not a fixed point")
        default:
            guard let value = try typed("SentryJSON.parse", [SentryError.self], { try SentryJSON.parse(body) }) else {
                return
            }
            let encoded = value.encoded()
            let again: SentryJSON
            do { again = try SentryJSON.parse(encoded) } catch {
                throw PropertyViolation(
                    "encoded JSON \(String(decoding: encoded.prefix(200), as: UTF8.self)) does not parse: \(error)")
            }
            try require(again.encoded() == encoded, "encoding parsed JSON is not a fixed point")
        }
    }
}
