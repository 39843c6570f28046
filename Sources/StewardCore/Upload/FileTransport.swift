import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The embedded default transport: delivers each payload into an outbox folder, where a
/// separate shipper (a cron job, a fleet agent, a USB export) or a person picks it up.
///
/// **The outbox is the delivery destination: data leaving Steward's protection.** Unlike the
/// vault, it is not encrypted: every body is stored exactly as it would have been sent over the
/// network (a Sentry envelope, an OTLP JSON document), so whatever reads the folder can forward
/// it byte for byte. So it is never a default: a host asks for it by name
/// (`Steward.Configuration.plaintextOutbox`, `steward flush --plaintext-outbox`). The folder is
/// private to the user (0700, files 0600), and a payload is written here only after its
/// purpose was granted, like any other send.
///
/// **Consent still reaches the files.** Given a `consent` to check, the transport checks the
/// payload's purpose again right before writing, under the same lock as ``purge(purpose:)``:
/// a withdrawal that purges the folder (the facade does it from its consent observer) can
/// never be followed by a file of that purpose written by a send already under way.
/// Secret headers (``isSecretHeader(_:)``: `X-Sentry-Auth`, `Authorization`, cookies, API
/// keys, tokens, as ``IdentifierFilter`` names secrets) are never written to a sidecar: a
/// shipper adds its own credentials.
///
/// **Layout.** Each payload becomes two files that share a name stem: a sequence number,
/// zero-padded to 12 digits so that name order is delivery order, then the recipient (letters,
/// digits, `.`, `-`, `_`; anything else becomes `_`):
///
/// ```
/// outbox/000000000042-crashBackend.body   the exact body bytes
/// outbox/000000000042-crashBackend.json   the sidecar: headers and metadata (``Sidecar``)
/// ```
///
/// The sequence continues across restarts, even after a reader has emptied the folder: the
/// transport reserves numbers in blocks in a hidden `.sequence` file, so numbers may skip
/// after a restart but never repeat or go back.
///
/// **Atomicity.** Each file is written under a hidden temporary name, fsynced, renamed into
/// place, and the folder fsynced; the body first, the sidecar last. So a reader that sees a
/// `.json` sees a complete body, and one that ignores names starting with `.` never sees a
/// partial file. ``send(_:)`` answers `.accepted` only after both are durable; any I/O failure
/// (disk full, read-only file system) answers `.retry(after: nil)` and leaves no partial files
/// behind. A body whose sidecar never appeared (a crash between the two) was never accepted;
/// it is deleted when the next transport opens the folder, and the uploader sends it again.
///
/// One transport per folder at a time, across processes too: it holds an exclusive lock on the
/// folder (`flock` on a hidden `.lock` file) until it is released, so two writers can never
/// hand out the same number. One transport serves every recipient's uploader. The file work
/// blocks the calling task for a few fsyncs.
///
/// ```swift
/// let outbox = try FileTransport(directory: dataDirectory + "/outbox")
/// let uploader = try Uploader(recipient: "crashBackend", transport: outbox, vault: vault, consent: ledger,
///                             manifest: manifest, audit: audit)
/// for item in try outbox.sidecars() { print(item.sequence, item.body, item.contentType) }
/// ```
public final class FileTransport: Transport {
    /// The sidecar written next to each body: everything about the payload except its bytes.
    public struct Sidecar: Codable, Hashable, Sendable {
        /// The payload's sequence number in this outbox.
        public var sequence: UInt64
        /// The recipient.
        public var recipient: RecipientID
        /// The purpose it was sent for.
        public var purpose: Purpose
        /// The data categories it holds.
        public var categories: [DataCategory]
        /// The body's media type.
        public var contentType: String
        /// The headers to send with the body.
        public var headers: [String: String]
        /// The recipient's key for dropping duplicates.
        public var idempotencyKey: String
        /// When the payload was created, ISO 8601 UTC with milliseconds
        /// (`2026-01-31T08:05:09.042Z`).
        public var created: String
        /// The body file's name, in the same folder.
        public var body: String
        /// The body's length in bytes.
        public var bodyBytes: Int
        /// The body's SHA-256, lowercase hex, so a reader can check what it forwards.
        public var bodySHA256: String
    }

    /// The outbox folder.
    public let directory: String
    /// Checked right before each write; nil writes whatever the uploader sends.
    private let consent: (any ConsentChecking)?
    /// Serialises writes and purges, so a purge never misses a file a send is writing.
    private let writing = Mutex(())
    /// Holds the folder's lock while the transport exists (closing it releases the lock).
    private let lock: FileDescriptor
    /// Set by ``close()``: the lock is released and nothing more is written.
    private let closed = Atomic<Bool>(false)
    /// The next sequence number and the end of the reserved block.
    private let sequence: Mutex<(next: UInt64, reservedUntil: UInt64)>
    private static let digits = 12
    private static let reservation: UInt64 = 1_024
    /// The largest sidecar ``sidecars()`` reads (Steward's are a few hundred bytes plus the
    /// payload's headers).
    private static let maximumSidecar = 1 << 20

    /// Opens (creating it 0700 when missing) the outbox folder `directory`; with `consent`,
    /// each payload's purpose is checked again right before its files are written (Steward's
    /// own deletion requests, purpose `privacyCompliance`, are always written).
    ///
    /// Removes leftovers of an interrupted delivery: temporary files and bodies without a
    /// sidecar (never accepted, so sent again by the uploader).
    ///
    /// Sequence numbers never repeat, so a folder whose file names or `.sequence` file claim a
    /// number within 1,025 of `UInt64.max` (such as `18446744073709551615-x.json`: only a
    /// damaged or planted file does) is refused before anything in it is changed. A
    /// `.sequence` that is not a regular file of at most 64 bytes (a FIFO, a huge file) is
    /// ignored, never waited on or read whole.
    ///
    /// - Throws: ``UploadError/Code/outboxInUse`` when another transport has the folder;
    ///   ``UploadError/Code/outboxExhausted`` when its sequence numbers have run out (the
    ///   message names the file to move away); ``InsecurePathError`` for a folder that is a
    ///   link, not ours or readable by others; ``SystemError`` when it cannot be created or read.
    public init(directory: String, consent: (any ConsentChecking)? = nil) throws {
        self.directory = directory
        self.consent = consent
        try FileSystem.ensurePrivateDirectory(directory)
        let lock = try FileDescriptor.open(directory + "/.lock", O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        let raw = lock.raw
        var code: Int32
        repeat { code = flock(raw, LOCK_EX | LOCK_NB) == 0 ? 0 : errno } while code == EINTR
        if code == EWOULDBLOCK {
            throw UploadError(
                .outboxInUse,
                "the outbox \(directory) is in use by another FileTransport (in this or another process); share one transport between uploaders"
            )
        } else if code != 0 {
            throw SystemError(call: "flock", path: directory + "/.lock", errno: code)
        }
        self.lock = lock
        let names = try FileSystem.contents(of: directory)
        let present = Set(names)
        // The numbers first, before anything is removed: a folder that must be refused is left
        // exactly as it was.
        var highest: (number: UInt64, name: String) = (0, "")
        for name in names {
            if let number = Self.sequenceNumber(of: name), number > highest.number { highest = (number, name) }
        }
        var next: UInt64
        switch highest.number.addingReportingOverflow(1) {
        case (_, true):
            throw Self.exhausted(directory, "holds \(highest.name), whose sequence number is the highest there is")
        case (let following, false):
            next = following
        }
        if let reserved = Self.savedReservation(directory + "/.sequence"), reserved > next { next = reserved }
        // The first send reserves the next block: there must be room for it.
        guard !next.addingReportingOverflow(Self.reservation).overflow else {
            let culprit = next == highest.number &+ 1 ? highest.name : ".sequence (\(next))"
            throw Self.exhausted(directory, "holds \(culprit), whose sequence number leaves no room for new ones")
        }
        for name in names {
            if name.hasPrefix("."), name.hasSuffix(".tmp") {
                try FileSystem.removeFile(directory + "/" + name)
                continue
            }
            guard Self.sequenceNumber(of: name) != nil else { continue }
            if name.hasSuffix(".body"), !present.contains(String(name.dropLast(5)) + ".json") {
                try FileSystem.removeFile(directory + "/" + name)
            }
            if name.hasSuffix(".json"), !present.contains(String(name.dropLast(5)) + ".body") {
                // Never accepted (a failure between the two files); the uploader sends it again.
                try FileSystem.removeFile(directory + "/" + name)
            }
        }
        sequence = Mutex((next, next))
    }

    /// The number saved in `.sequence`, or nil when there is none to trust: missing, not a
    /// regular file (opened without blocking, so a FIFO cannot hang the caller), larger than
    /// 64 bytes, or not a decimal number.
    private static func savedReservation(_ path: String) -> UInt64? {
        guard let fd = try? FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK),
            let st = try? fd.stat(), (st.st_mode & S_IFMT) == S_IFREG,
            let saved = try? fd.readAll(limit: 64),
            let text = String(validating: saved, as: UTF8.self)
        else { return nil }
        let digits = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(digits)
    }

    private static func exhausted(_ directory: String, _ problem: String) -> UploadError {
        UploadError(
            .outboxExhausted,
            "the outbox \(directory) \(problem): sequence numbers must never repeat, so no payload can be written. The file is damaged or not Steward's; move it out of the folder (with .sequence when it is named), then open the outbox again"
        )
    }

    deinit {
        // Unlock explicitly: a child forked meanwhile (before its exec) holds a copy of the
        // descriptor and would otherwise keep the outbox locked after this transport is gone.
        _ = flock(lock.raw, LOCK_UN)
    }

    /// Files only: never paused for the network.
    public var networkNeed: NetworkNeed { .none }

    /// Releases the folder's lock, so another transport (a Steward started again in this
    /// process) may open it; sends after this write nothing and answer `.retry`. A send under
    /// way finishes first. Idempotent; the deinitialiser does the same.
    public func close() {
        writing.withLock { _ in
            guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
            _ = flock(lock.raw, LOCK_UN)
        }
    }

    /// Writes the payload's body and sidecar into the outbox.
    ///
    /// - Returns: `.accepted` once both files and the folder are fsynced; `.retry(after: nil)`
    ///   for any I/O failure, and after ``close()``. Never `.rejected`.
    public func send(_ payload: Payload) async -> Delivery {
        writing.withLock { _ in closed.load(ordering: .acquiring) ? .retry(after: nil) : write(payload) }
    }

    private func write(_ payload: Payload) -> Delivery {
        if let consent, payload.purpose != .privacyCompliance, consent.consentState(for: payload.purpose) != .granted {
            // Withdrawn while the send was on its way: the uploader sees the new state and
            // holds or drops the payload.
            return .retry(after: nil)
        }
        do {
            let number = try nextSequence()
            let stem = Self.stem(number, payload.recipient)
            let sidecar = Sidecar(
                sequence: number, recipient: payload.recipient, purpose: payload.purpose,
                categories: payload.categories,
                contentType: payload.contentType, headers: payload.headers.filter { !Self.isSecretHeader($0.key) },
                idempotencyKey: payload.idempotencyKey,
                created: CivilTime.iso8601(payload.created), body: stem + ".body", bodyBytes: payload.body.count,
                bodySHA256: Self.hex(SHA256.hash(payload.body)))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let json = Array(try encoder.encode(sidecar)) + [0x0A]
            try write(payload.body, name: stem + ".body")
            do {
                try write(json, name: stem + ".json")
            } catch {
                // The sidecar goes first, so a failure never leaves a sidecar without its body.
                try? FileSystem.removeFile(directory + "/" + stem + ".json")
                try? FileSystem.removeFile(directory + "/" + stem + ".body")
                throw error
            }
            return .accepted
        } catch {
            return .retry(after: nil)
        }
    }

    /// The sidecars in the outbox, in delivery order. A sidecar that does not decode, cannot be
    /// read, or is larger than 1 MiB is skipped.
    ///
    /// - Throws: ``SystemError`` when the folder cannot be read.
    public func sidecars() throws -> [Sidecar] {
        let decoder = JSONDecoder()
        return try FileSystem.contents(of: directory)
            .filter { !$0.hasPrefix(".") && $0.hasSuffix(".json") && Self.sequenceNumber(of: $0) != nil }
            .compactMap { name in
                readSidecar(name, decoder)
            }
            .sorted { $0.sequence < $1.sequence }
    }

    /// Removes the body and sidecar of every payload of `purpose` (a withdrawal), and any body
    /// whose sidecar cannot be read (its purpose cannot be told, so it is not kept).
    ///
    /// - Returns: The payloads removed.
    /// - Throws: ``SystemError`` when the folder cannot be read or a file cannot be removed.
    @discardableResult
    public func purge(purpose: Purpose) throws -> Int {
        try writing.withLock { _ in
            let names = try FileSystem.contents(of: directory).filter {
                !$0.hasPrefix(".") && Self.sequenceNumber(of: $0) != nil
            }
            let decoder = JSONDecoder()
            var removed = 0
            for name in names where name.hasSuffix(".json") {
                let stem = String(name.dropLast(5))
                let sidecar = readSidecar(name, decoder)
                guard sidecar == nil || sidecar?.purpose == purpose else { continue }
                // The sidecar first: a body without one is never read as accepted.
                try FileSystem.removeFile(directory + "/" + name)
                if names.contains(stem + ".body") { try FileSystem.removeFile(directory + "/" + stem + ".body") }
                removed += 1
            }
            // A body without its sidecar (a send cut short): its purpose cannot be told.
            for name in names where name.hasSuffix(".body") && !names.contains(String(name.dropLast(5)) + ".json") {
                try FileSystem.removeFile(directory + "/" + name)
            }
            if removed > 0 { try FileSystem.syncDirectory(directory) }
            return removed
        }
    }

    /// Removes every payload file (bodies, sidecars and temporary files), leaving anything
    /// else in the folder alone: for erase.
    ///
    /// - Returns: The files removed.
    @discardableResult
    package func removeAllPayloads() throws -> Int {
        try writing.withLock { _ in
            var removed = 0
            for name in try FileSystem.contents(of: directory)
            where Self.sequenceNumber(of: name) != nil || (name.hasPrefix(".") && name.hasSuffix(".tmp")) {
                try FileSystem.removeFile(directory + "/" + name)
                removed += 1
            }
            if removed > 0 { try FileSystem.syncDirectory(directory) }
            return removed
        }
    }

    /// Moves every payload out of the folder: `take` receives each one (body and sidecar read
    /// back, the body checked against the sidecar's length and SHA-256) in delivery order, and
    /// its files are removed once `take` returns without throwing. A pair that does not read
    /// back whole is removed unread (it was never a complete delivery). For moving the
    /// plaintext outbox an earlier Steward wrote by default back into the vault.
    ///
    /// - Returns: The payloads taken and the pairs removed unread.
    /// - Throws: what `take` throws (the payload's files then stay), ``SystemError`` when the
    ///   folder cannot be read or a file cannot be removed.
    package func takeAll(_ take: (Payload) throws -> Void) throws -> (taken: Int, unreadable: Int) {
        try writing.withLock { _ in
            let names = try FileSystem.contents(of: directory).filter {
                !$0.hasPrefix(".") && Self.sequenceNumber(of: $0) != nil
            }
            let decoder = JSONDecoder()
            var result = (taken: 0, unreadable: 0)
            for name in names.filter({ $0.hasSuffix(".json") }).sorted() {
                let stem = String(name.dropLast(5))
                let sidecar = readSidecar(name, decoder)
                let body = sidecar.flatMap { sidecar in
                    (try? FileDescriptor.open(directory + "/" + stem + ".body", O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
                        .readAll(limit: max(0, min(sidecar.bodyBytes, Self.maximumTakenBody) + 1)))
                        .flatMap {
                            $0.count == sidecar.bodyBytes && Self.hex(SHA256.hash($0)) == sidecar.bodySHA256 ? $0 : nil
                        }
                }
                if let sidecar, let body {
                    try take(
                        Payload(
                            recipient: sidecar.recipient, purpose: sidecar.purpose, categories: sidecar.categories,
                            contentType: sidecar.contentType, headers: sidecar.headers, body: body,
                            idempotencyKey: sidecar.idempotencyKey,
                            created: CivilTime.date(rfc3339: sidecar.created) ?? Date()))
                    result.taken += 1
                } else {
                    result.unreadable += 1
                }
                try FileSystem.removeFile(directory + "/" + name)
                if names.contains(stem + ".body") { try FileSystem.removeFile(directory + "/" + stem + ".body") }
            }
            if result.taken + result.unreadable > 0 { try FileSystem.syncDirectory(directory) }
            return result
        }
    }

    /// The largest body ``takeAll(_:)`` reads back (a payload is at most a few megabytes).
    private static let maximumTakenBody = 64 << 20

    private static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    /// Payloads in the outbox (sidecars that name a body), per recipient: for the access report.
    ///
    /// - Throws: ``SystemError`` when the folder cannot be read.
    public func countByRecipient() throws -> [RecipientID: Int] {
        var counts: [RecipientID: Int] = [:]
        for sidecar in try sidecars() { counts[sidecar.recipient, default: 0] += 1 }
        return counts
    }

    /// The sidecar `name` of the folder, or nil when it cannot be read or does not decode: a
    /// link, a FIFO, or more than any sidecar Steward writes (its size is outside input; never
    /// allocated whole).
    private func readSidecar(_ name: String, _ decoder: JSONDecoder) -> Sidecar? {
        guard
            let bytes = try? FileDescriptor.open(directory + "/" + name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
                .readAll(limit: Self.maximumSidecar)
        else { return nil }
        return try? decoder.decode(Sidecar.self, from: Data(bytes))
    }

    /// Whether a header carries a secret and is never written to a sidecar: `Cookie`,
    /// `Set-Cookie`, `Proxy-Authorization` and every name `IdentifierFilter/isSecretKey(_:)`
    /// finds (`Authorization`, `X-Sentry-Auth`, `X-Api-Key`, tokens, …). `Idempotency-Key` is
    /// not a secret and is kept.
    public static func isSecretHeader(_ name: String) -> Bool {
        IdentifierFilter.isSecretKey(name) || name.lowercased() == "proxy-authorization"
    }

    // MARK: - Private

    /// Hands out the next number, first extending the reservation in `.sequence` when the
    /// block is used up, so a restart never reuses a number.
    ///
    /// - Throws: ``UploadError/Code/outboxExhausted`` when no block fits below `UInt64.max`
    ///   (never wraps: numbers must not repeat); what the write of `.sequence` throws.
    private func nextSequence() throws -> UInt64 {
        let directory = self.directory
        return try sequence.withLock { s in
            if s.next >= s.reservedUntil {
                let (until, overflow) = s.next.addingReportingOverflow(Self.reservation)
                if overflow { throw Self.exhausted(directory, "has handed out its last sequence number") }
                try FileSystem.writeAtomically(Array("\(until)\n".utf8), to: directory + "/.sequence")
                s.reservedUntil = until
            }
            // s.next < s.reservedUntil <= UInt64.max, so the increment cannot overflow.
            defer { s.next += 1 }
            return s.next
        }
    }

    /// Writes `bytes` to `name` atomically: hidden temporary file, fsync, rename, folder fsync.
    private func write(_ bytes: [UInt8], name: String) throws {
        let temporary = directory + "/." + name + ".tmp"
        let path = directory + "/" + name
        do {
            let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
            try fd.write(bytes, at: 0)
            try fd.sync()
        } catch {
            try? FileSystem.removeFile(temporary)
            throw error
        }
        do {
            try FileSystem.renameInPlace(temporary, to: path)
        } catch {
            try? FileSystem.removeFile(temporary)
            throw error
        }
        try FileSystem.syncDirectory(directory)
    }

    private static func stem(_ number: UInt64, _ recipient: RecipientID) -> String {
        let digits = String(number)
        let safe = String(
            decoding: recipient.rawValue.utf8.prefix(64).map { byte -> UInt8 in
                let ok =
                    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2D || byte == 0x5F || byte == 0x2E
                return ok ? byte : 0x5F
            }, as: UTF8.self)
        return String(repeating: "0", count: max(0, Self.digits - digits.count)) + digits + "-" + safe
    }

    /// The leading sequence number of an outbox file name (`000000000042-x.json`), if any:
    /// 12 or more decimal digits that fit a `UInt64`.
    private static func sequenceNumber(of name: String) -> UInt64? {
        guard let dash = name.firstIndex(of: "-"), name.distance(from: name.startIndex, to: dash) >= Self.digits,
            name.hasSuffix(".body") || name.hasSuffix(".json"),
            name[..<dash].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { return nil }
        return UInt64(name[..<dash])
    }
}
