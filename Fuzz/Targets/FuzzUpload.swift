import Foundation
import Synchronization
@testable import StewardCore

/// Runs `body` to completion from synchronous code (fuzz targets are synchronous).
func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let result = Mutex<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await body()
        result.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return result.withLock { $0! }
}

/// `Retry-After` values (delay-seconds and the three HTTP-date forms) against any `now`, and the
/// RFC 3339 times of outside logs (`CivilTime.date(rfc3339:)`).
///
/// Input: 8 bytes of `now` (a Double's bits, NaN and infinities included), then the header.
/// Checks: the delay is never negative and never over 2³¹ s; a date that parses, formatted
/// back as an IMF-fixdate, parses to the same instant; `n` seconds written as digits read
/// back as `min(n, 2³¹)` seconds; an RFC 3339 time written back reads to the same millisecond.
public enum FuzzRetryAfter: FuzzTarget {
    public static let name = "FuzzRetryAfter"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        var reader = FuzzReader(input)
        let now = Date(timeIntervalSinceReferenceDate: Double(bitPattern: reader.u64()))
        let value = String(decoding: reader.rest, as: UTF8.self)
        if let delay = RetryAfter.delay(fromHeader: value, now: now) {
            try require(
                delay >= .zero && delay <= .seconds(RetryAfter.maximumSeconds),
                "Retry-After \(value.debugDescription) gave \(delay)")
        }
        if let date = RetryAfter.parseHTTPDate(value, now: now) {
            let c = CivilTime.components(of: date)
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
            let dayNumber = Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
            let weekday = days[((dayNumber % 7) + 7) % 7]
            func pad(_ n: Int, _ width: Int) -> String {
                String(repeating: "0", count: max(0, width - String(n).count)) + String(n)
            }
            let text =
                "\(weekday), \(pad(c.day, 2)) \(months[c.month - 1]) \(pad(c.year, 4)) \(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)) GMT"
            let again = RetryAfter.parseHTTPDate(text, now: now)
            try require(
                again == date,
                "\(value.debugDescription) parsed to \(date), written back as \(text) it parsed to \(String(describing: again))"
            )
        }
        if let time = CivilTime.date(rfc3339: value) {
            let written = CivilTime.iso8601(time)
            let again = CivilTime.date(rfc3339: written)
            try require(
                again.map { abs($0.timeIntervalSince(time)) < 0.001 } == true,
                "\(value.debugDescription) read as an RFC 3339 time, written as \(written), read back as \(String(describing: again))"
            )
        }
        let seconds = reader.u64() >> UInt64(reader.byte() % 64)
        let delay = RetryAfter.delay(fromHeader: String(seconds), now: now)
        try require(
            delay == .seconds(Int64(min(seconds, UInt64(RetryAfter.maximumSeconds)))),
            "\(seconds) seconds read as \(String(describing: delay))")
    }
}

/// The outbox record the uploader keeps in the vault for every payload (`Payload(outboxRecord:)`).
///
/// Input: a selector byte. Even: the rest is a stored record; one that decodes must encode to
/// the same bytes. Odd: the rest describes a payload, which must survive encode then decode
/// (decode(encode(x)) == x, the creation time compared bit for bit).
public enum FuzzOutboxRecord: FuzzTarget {
    public static let name = "FuzzOutboxRecord"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        guard let selector = input.first else { return }
        let rest = Array(input.dropFirst())
        if selector & 1 == 0 {
            guard let payload = Payload(outboxRecord: rest) else { return }
            guard let again = Payload(outboxRecord: payload.outboxRecord()) else {
                throw PropertyViolation("a decoded outbox record does not decode after encoding")
            }
            try require(samePayload(again, payload), "re-encoding a decoded outbox record changed it")
        } else {
            var reader = FuzzReader(rest)
            var headers: [String: String] = [:]
            for _ in 0..<(reader.byte() % 6) { headers[reader.string(upTo: 32)] = reader.string(upTo: 128) }
            let payload = Payload(
                recipient: RecipientID(rawValue: reader.string(upTo: 64)),
                purpose: Purpose(rawValue: reader.string(upTo: 64)),
                categories: (0..<(reader.byte() % 4)).map { _ in DataCategory(rawValue: reader.string(upTo: 32)) },
                contentType: reader.string(upTo: 64), headers: headers, body: reader.bytes(upTo: 4096),
                idempotencyKey: reader.string(upTo: 64),
                created: Date(timeIntervalSinceReferenceDate: Double(bitPattern: reader.u64())))
            guard let again = Payload(outboxRecord: payload.outboxRecord()) else {
                throw PropertyViolation("an encoded payload does not decode")
            }
            try require(samePayload(again, payload), "decode(encode(x)) differs from x")
        }
    }

    static func samePayload(_ a: Payload, _ b: Payload) -> Bool {
        var a2 = a, b2 = b
        a2.created = .distantPast
        b2.created = .distantPast
        return a2 == b2
            && a.created.timeIntervalSinceReferenceDate.bitPattern
                == b.created.timeIntervalSinceReferenceDate.bitPattern
    }
}

/// The outbox folder of a `FileTransport`: file names, `.sequence` and sidecars left by earlier
/// runs (or anyone who can write the folder), then a send.
///
/// Input: entries of (kind byte, name, contents): kind 0 writes a file of that name, kind 1 the
/// `.sequence` file, kind 2 an empty body and sidecar pair of that stem. Checks: only typed
/// errors; after a successful send the new sidecar is listed with its own fields, and no two
/// sidecars share a sequence number.
public enum FuzzOutboxFolder: FuzzTarget {
    public static let name = "FuzzOutboxFolder"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        var reader = FuzzReader(input)
        let directory = Scratch.fresh("outbox")
        var entries = 0
        while !reader.isEmpty && entries < 16 {
            entries += 1
            let kind = reader.byte() % 3
            let name = reader.string(upTo: 48).filter { $0 != "/" && $0 != "\0" }
            let contents = reader.bytes(upTo: 512)
            switch kind {
            case 0:
                guard !name.isEmpty, name != ".", name != "..", name != ".lock" else { continue }
                Scratch.write(contents, to: directory + "/" + name)
            case 1:
                Scratch.write(contents, to: directory + "/.sequence")
            default:
                guard !name.isEmpty, name != ".", name != ".." else { continue }
                Scratch.write([], to: directory + "/" + name + ".body")
                Scratch.write(contents, to: directory + "/" + name + ".json")
            }
        }
        let errors: [any Error.Type] = [UploadError.self, SystemError.self, InsecurePathError.self]
        guard
            let transport = try typed("FileTransport(directory:)", errors, { try FileTransport(directory: directory) })
        else { return }
        _ = try typed("sidecars()", errors) { try transport.sidecars() }
        let payload = Payload(
            recipient: "telemetry", purpose: .analytics, categories: [.usageEvents], contentType: "application/json",
            headers: ["Steward-Path": "/v1/logs"], body: Array("{}".utf8), idempotencyKey: "fuzz-key", created: fuzzNow)
        let delivery = blocking { await transport.send(payload) }
        guard delivery == .accepted else { return }
        guard let sidecars = try typed("sidecars()", errors, { try transport.sidecars() }) else {
            throw PropertyViolation("sidecars() failed after a send was accepted")
        }
        try require(
            sidecars.contains { $0.idempotencyKey == "fuzz-key" && $0.recipient == "telemetry" && $0.bodyBytes == 2 },
            "the accepted payload's sidecar is not listed")
        let numbers = sidecars.map(\.sequence)
        try require(Set(numbers).count == numbers.count, "two sidecars share a sequence number: \(numbers)")
        // Taking everything back (a plaintext outbox moved into the vault): every payload read
        // back whole, ours among them, and no visible pair left behind.
        let taken = Mutex<[Payload]>([])
        guard
            let counts = try typed(
                "takeAll(_:)", errors, { try transport.takeAll { payload in taken.withLock { $0.append(payload) } } })
        else { return }
        let all = taken.withLock { $0 }
        try require(counts.taken == all.count, "takeAll counted \(counts.taken) but handed over \(all.count)")
        try require(
            all.contains {
                $0.idempotencyKey == "fuzz-key" && $0.body == Array("{}".utf8) && $0.headers == payload.headers
            },
            "the accepted payload was not taken back as written")
        // Sequence-named files, as the transport reads names: 12 or more digits that fit a
        // UInt64, a dash, then .json or .body.
        let left =
            (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { name in
                guard !name.hasPrefix("."), name.hasSuffix(".json") || name.hasSuffix(".body"),
                    let dash = name.firstIndex(of: "-")
                else { return false }
                let digits = name[..<dash]
                return digits.count >= 12 && digits.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
                    && UInt64(digits) != nil
            } ?? []
        try require(left.allSatisfy { !$0.hasSuffix(".json") }, "a sidecar is left after takeAll: \(left)")
    }
}

/// The identifier and secret filter over any text: attribute values, breadcrumbs, error
/// messages and crash texts reach it from the host and the system.
///
/// Input: a selector byte, then the text. Checks: no trap; a text in which nothing is found is
/// returned unchanged; the device values of the filter never survive redaction; a secret name
/// is found whatever its case.
public enum FuzzIdentifierFilter: FuzzTarget {
    public static let name = "FuzzIdentifierFilter"

    /// Where `word` occurs in `bytes` with no letter, digit, `_` or non-ASCII byte on either side.
    static func wholeWord(_ word: String, in bytes: [UInt8]) -> Range<Int>? {
        let needle = Array(word.utf8)
        func isWord(_ b: UInt8) -> Bool {
            b >= 0x80 || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F
        }
        guard bytes.count >= needle.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start..<start + needle.count].elementsEqual(needle) {
            let before = start == 0 || !isWord(bytes[start - 1])
            let after = start + needle.count == bytes.count || !isWord(bytes[start + needle.count])
            if before && after { return start..<start + needle.count }
        }
        return nil
    }

    static let filter = IdentifierFilter(
        machineIDs: ["0123456789abcdef0123456789abcdef"], macAddresses: ["00:1b:21:aa:bb:cc"],
        hostNames: ["kiosk-07"], homeDirectory: "/home/ana", userName: "ana")

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        guard let selector = input.first else { return }
        let text = String(decoding: input.dropFirst(), as: UTF8.self)
        let filter = selector & 1 == 0 ? Self.filter : IdentifierFilter.current
        let found = filter.contains(text)
        let redacted = filter.redact(text, secretValues: selector & 2 == 0)
        if !found {
            try require(redacted == text, "nothing was found in \(text.debugDescription) but redaction changed it")
        }
        // ASCII case only: Unicode lowering could make a device value of other letters.
        let lowered = String(decoding: redacted.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        for device in ["0123456789abcdef0123456789abcdef", "00:1b:21:aa:bb:cc", "001b21aabbcc"] where selector & 1 == 0
        {
            try require(
                !lowered.contains(device),
                "\(device) survived redaction of \(text.debugDescription): \(redacted.debugDescription)")
        }
        // The host name is found as a whole word (in `0kiosk-07` it is part of another word).
        if selector & 1 == 0, let range = wholeWord("kiosk-07", in: Array(lowered.utf8)) {
            throw PropertyViolation(
                "kiosk-07 survived as a word at \(range) in the redaction of \(text.debugDescription): \(redacted.debugDescription)"
            )
        }
        try require(
            IdentifierFilter.isSecretKey(text) == IdentifierFilter.isSecretKey(text.uppercased())
                || !text.utf8.allSatisfy { $0 < 0x80 },
            "isSecretKey depends on ASCII case for \(text.debugDescription)")
    }
}

/// The key file `FileKeyProvider` reads (`DATA/keys/NAME.key`), and leftovers in its folder.
///
/// Input: a flag byte (bit 0: also leave a stale `.tmp-x` file), then the key file. Checks:
/// only typed errors; a key is returned only for a file of exactly 32 bytes, and it is those
/// bytes; asking again returns the same key.
public enum FuzzKeyFile: FuzzTarget {
    public static let name = "FuzzKeyFile"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        guard let flags = input.first else { return }
        let file = Array(input.dropFirst())
        switch flags & 6 {
        case 2: return try storeRecord(file)
        case 4: return try credential(file)
        default: break
        }
        let directory = Scratch.fresh("keys")
        Scratch.write(file, to: directory + "/vault.key")
        if flags & 1 != 0 { Scratch.write([0], to: directory + "/.tmp-x") }
        let provider = FileKeyProvider(directory: directory)
        let errors: [any Error.Type] = [KeyProviderError.self, InsecurePathError.self, SystemError.self]
        guard let key = try typed("key(named:)", errors, { try provider.key(named: "vault", createIfMissing: false) })
        else { return }
        try require(file.count == 32, "a key file of \(file.count) bytes gave a key")
        try require(
            (try? SymmetricKey(copying: file)).map { key.isEqual(to: $0) } == true, "the key is not the file's bytes")
        let again = try typed("key(named:) again", errors) { try provider.key(named: "vault", createIfMissing: true) }
        try require(again?.isEqual(to: key) == true, "asking again gave another key")
    }

    /// A data folder's key-store record (`DATA/keys/store`): one that reads back names a store
    /// whose own record is exactly these bytes.
    static func storeRecord(_ file: [UInt8]) throws(PropertyViolation) {
        let directory = Scratch.fresh("store")
        Scratch.write(file, to: directory + "/keys/store")
        let errors: [any Error.Type] = [KeyProviderError.self, SystemError.self]
        guard let read = try typed("recorded", errors, { try KeyStore.recorded(inDataDirectory: directory) }),
            let store = read
        else { return }
        try require(
            Array((store.description + "\n").utf8) == file, "the record \(file) read as \(store.description)")
    }

    /// A systemd credential wrapping the vault key: accepted only as 32 bytes or 64 hex digits
    /// (and a newline); the key it gives back is the same on a second provider.
    static func credential(_ file: [UInt8]) throws(PropertyViolation) {
        let directory = Scratch.fresh("credentials")
        Scratch.write(file, to: directory + "/creds/steward.vault-key")
        let errors: [any Error.Type] = [KeyProviderError.self, InsecurePathError.self, SystemError.self]
        let provider = SystemdCredentialKeyProvider(
            credentialsDirectory: directory + "/creds", directory: directory + "/keys")
        guard let key = try typed("credential key", errors, { try provider.key(named: "vault", createIfMissing: true) })
        else { return }
        let text = file.last == UInt8(ascii: "\n") ? Array(file.dropLast()) : file
        try require(
            file.count == 32 || (text.count == 64 && text.allSatisfy { Hex.nibble($0) != nil }),
            "a credential of \(file.count) bytes was accepted")
        let second = SystemdCredentialKeyProvider(
            credentialsDirectory: directory + "/creds", directory: directory + "/keys")
        let again = try typed("credential key again", errors) { try second.key(named: "vault", createIfMissing: false) }
        try require(again?.isEqual(to: key) == true, "the wrapped key read back differently")
    }
}
