import Foundation
import StewardCore

/// The form of a stored batch of events: a compact binary layout, written and read by hand.
///
/// Batches are written on the storer thread for every 256 events, so their cost bounds the
/// sustained rate: Foundation's `JSONEncoder` took about 9 µs and 34 allocations per event, a
/// hand-written JSON form about 0.4 µs, this layout a small fraction of that (copies of the
/// strings' bytes and fixed-width numbers). The vault encrypts and authenticates it.
///
/// Layout, little-endian: magic `STB1`, u32 record count, then per record: name, purpose,
/// category (each a string: u32 byte count + UTF-8), u64 time, u64 observed time, i64 severity,
/// trace id and span id (u32 byte count, `0xFFFF_FFFF` for none, + UTF-8), u32 attribute count,
/// then per attribute its key (string), a tag (0 string, 1 int, 2 double, 3 bool) and the value
/// (string; i64; f64 bits; one byte).
///
/// This binary layout is the only stored form: the JSON form of development builds was never
/// released, and ``decode(_:)`` refuses it like any other unknown bytes.
enum BatchCoding {
    static let magic: [UInt8] = Array("STB1".utf8)
    fileprivate static let none: UInt32 = 0xFFFF_FFFF

    static func encode(_ records: [TelemetryEventRecord]) -> [UInt8] {
        // The exact size first, then one allocation written through a raw pointer.
        var size = 8
        for record in records {
            size += 12 + 24 + 8 + 4
            size +=
                record.name.rawValue.utf8.count + record.purpose.rawValue.utf8.count
                + record.category.rawValue.utf8.count
            size += (record.traceID?.utf8.count ?? 0) + (record.spanID?.utf8.count ?? 0)
            for (key, value) in record.attributes {
                size += 4 + key.utf8.count + 1
                switch value {
                case .string(let text): size += 4 + text.utf8.count
                case .int, .double: size += 8
                case .bool: size += 1
                }
            }
        }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var writer = Writer(base: UnsafeMutableRawPointer(buffer.baseAddress!))
            writer.bytes(magic)
            writer.u32(UInt32(truncatingIfNeeded: records.count))
            for record in records {
                writer.string(record.name.rawValue)
                writer.string(record.purpose.rawValue)
                writer.string(record.category.rawValue)
                writer.u64(record.timeUnixNano)
                writer.u64(record.observedTimeUnixNano)
                writer.u64(UInt64(bitPattern: Int64(record.severityNumber)))
                writer.optionalString(record.traceID)
                writer.optionalString(record.spanID)
                writer.u32(UInt32(truncatingIfNeeded: record.attributes.count))
                for (key, value) in record.attributes {
                    writer.string(key)
                    switch value {
                    case .string(let text):
                        writer.byte(0)
                        writer.string(text)
                    case .int(let number):
                        writer.byte(1)
                        writer.u64(UInt64(bitPattern: number))
                    case .double(let number):
                        writer.byte(2)
                        writer.u64(number.bitPattern)
                    case .bool(let flag):
                        writer.byte(3)
                        writer.byte(flag ? 1 : 0)
                    }
                }
            }
            precondition(writer.offset == size, "BatchCoding size mismatch")
            initialized = writer.offset
        }
    }

    /// Writes into memory sized beforehand by ``encode(_:)``.
    private struct Writer {
        let base: UnsafeMutableRawPointer
        var offset = 0

        @inline(__always)
        mutating func byte(_ value: UInt8) {
            base.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
            offset += 1
        }

        @inline(__always)
        mutating func u32(_ value: UInt32) {
            base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
            offset += 4
        }

        @inline(__always)
        mutating func u64(_ value: UInt64) {
            base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
            offset += 8
        }

        @inline(__always)
        mutating func bytes(_ value: [UInt8]) {
            value.withUnsafeBytes { (base + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            offset += value.count
        }

        @inline(__always)
        mutating func string(_ text: String) {
            var text = text
            text.withUTF8 { utf8 in
                u32(UInt32(truncatingIfNeeded: utf8.count))
                if let source = utf8.baseAddress { (base + offset).copyMemory(from: source, byteCount: utf8.count) }
                offset += utf8.count
            }
        }

        mutating func optionalString(_ text: String?) {
            if let text { string(text) } else { u32(BatchCoding.none) }
        }
    }

    /// The records of a stored batch; nil when the bytes are not one (the vault authenticated
    /// them, so only a bug or a newer version writes such a batch).
    static func decode(_ bytes: [UInt8]) -> [TelemetryEventRecord]? {
        var reader = ByteReader(bytes)
        guard reader.take(4).map(Array.init) == magic, let count = reader.u32() else { return nil }
        var records: [TelemetryEventRecord] = []
        // Each record takes at least 44 bytes: a count past what is there is damage.
        guard Int(count) <= bytes.count / 44 else { return nil }
        records.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let name = reader.batchString(), let purpose = reader.batchString(),
                let category = reader.batchString(),
                let time = reader.u64(), let observed = reader.u64(), let severity = reader.u64(),
                let trace = reader.optionalBatchString(), let span = reader.optionalBatchString(),
                let attributeCount = reader.u32(),
                Int(attributeCount) <= reader.remaining / 6
            else { return nil }
            var attributes: [String: AttributeValue] = [:]
            attributes.reserveCapacity(Int(attributeCount))
            for _ in 0..<attributeCount {
                guard let key = reader.batchString(), let tag = reader.take(1)?.first else { return nil }
                switch tag {
                case 0: guard let text = reader.batchString() else { return nil }; attributes[key] = .string(text)
                case 1:
                    guard let number = reader.u64() else { return nil };
                    attributes[key] = .int(Int64(bitPattern: number))
                case 2:
                    guard let bits = reader.u64() else { return nil };
                    attributes[key] = .double(Double(bitPattern: bits))
                case 3:
                    guard let flag = reader.take(1)?.first, flag <= 1 else { return nil };
                    attributes[key] = .bool(flag == 1)
                default: return nil
                }
            }
            records.append(
                TelemetryEventRecord(
                    name: EventName(rawValue: name), purpose: Purpose(rawValue: purpose),
                    category: DataCategory(rawValue: category),
                    timeUnixNano: time, observedTimeUnixNano: observed, attributes: attributes,
                    severityNumber: Int(truncatingIfNeeded: Int64(bitPattern: severity)), traceID: trace ?? nil,
                    spanID: span ?? nil))
        }
        return reader.remaining == 0 ? records : nil
    }
}

extension ByteReader {
    /// A string written by ``BatchCoding`` (a `u32` length, or `none` for no value, then UTF-8).
    fileprivate mutating func batchString() -> String? {
        if u32(at: offset) == BatchCoding.none { return nil }
        return lengthPrefixedString()
    }

    /// nil: damaged; .some(nil): no value.
    fileprivate mutating func optionalBatchString() -> String?? {
        guard let count = u32(at: offset) else { return nil }
        if count == BatchCoding.none {
            _ = u32()
            return .some(nil)
        }
        return lengthPrefixedString().map { .some($0) }
    }
}
