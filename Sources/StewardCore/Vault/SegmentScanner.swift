/// A frame found intact (magic, lengths and CRC check out) while scanning a segment.
struct ScannedFrame {
    var offset: Int
    var length: Int
    var headerLength: Int
    var kind: SegmentFormat.Kind
    var id: UInt64
    var end: Int { offset + length }
}

/// Reads a segment file's frames without the key: which are intact, where the committed
/// prefix ends, and which byte ranges are damaged.
enum SegmentScanner {
    struct Result {
        var frames: [ScannedFrame] = []
        /// End of the last commit frame (the segment header's end when there is none).
        var committedEnd = SegmentFormat.segmentHeaderLength
        /// Byte ranges that hold no intact frame.
        var damaged: [Range<Int>] = []
        /// Start of a final frame cut short by the end of the file (a torn write), if any.
        var tornAt: Int?
    }

    enum Probe {
        case frame(ScannedFrame)
        /// The frame claims more bytes than the file has.
        case truncated
        case invalid
    }

    static func probe(_ raw: UnsafeRawBufferPointer, at offset: Int) -> Probe {
        func u16(_ at: Int) -> Int? { ByteReader.integer(UInt16.self, in: raw, at: offset + at).map(Int.init) }
        func u32(_ at: Int) -> UInt32? { ByteReader.integer(UInt32.self, in: raw, at: offset + at) }
        guard offset >= 0, raw.count - offset >= 16, let magic = u32(0),
            let kindByte = raw.indices.contains(offset + 4) ? raw[offset + 4] : nil,
            let headerLength = u16(6), let body = u32(8), let crc = u32(12)
        else { return .truncated }
        let remaining = raw.count - offset
        guard magic == SegmentFormat.frameMagicValue, let kind = SegmentFormat.Kind(rawValue: kindByte) else {
            return .invalid
        }
        let bodyLength = Int(body)
        guard headerLength >= SegmentFormat.fixedFrameHeader, bodyLength >= AESGCM.overhead,
            bodyLength <= SegmentFormat.maximumBody
        else { return .invalid }
        let length = headerLength + bodyLength
        guard length <= remaining else { return .truncated }
        guard let c = u16(40), let p = u16(42), let id = ByteReader.integer(UInt64.self, in: raw, at: offset + 16),
            SegmentFormat.fixedFrameHeader + c + p == headerLength
        else { return .invalid }
        let frame = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)])
        guard CRC32C.frame(frame) == crc else { return .invalid }
        return .frame(
            ScannedFrame(offset: offset, length: length, headerLength: headerLength, kind: kind, id: id))
    }

    static func scan(_ raw: UnsafeRawBufferPointer) -> Result {
        var result = Result()
        // Resynchronising after damage checksums candidate frames; a hostile file full of fake
        // frame magic could make that quadratic. Past this budget the rest counts as damaged.
        var resyncBudget = 4 * raw.count + (1 << 20)
        result.frames.reserveCapacity(raw.count / 128)
        var offset = SegmentFormat.segmentHeaderLength
        while offset < raw.count {
            switch probe(raw, at: offset) {
            case .frame(let frame):
                result.frames.append(frame)
                if frame.kind == .commit { result.committedEnd = frame.end }
                offset = frame.end
            case .truncated, .invalid:
                // Look for the next intact frame; the bytes up to it are damaged.
                let truncated: Bool
                if case .truncated = probe(raw, at: offset) { truncated = true } else { truncated = false }
                if let next = resync(raw, from: offset + 1, budget: &resyncBudget) {
                    result.damaged.append(offset..<next)
                    offset = next
                } else {
                    result.damaged.append(offset..<raw.count)
                    if truncated { result.tornAt = offset }
                    offset = raw.count
                }
            }
        }
        return result
    }

    /// The offset of the next intact frame at or after `start`.
    static func resync(_ raw: UnsafeRawBufferPointer, from start: Int, budget: inout Int) -> Int? {
        var offset = start
        while offset + 16 <= raw.count {
            if raw[offset] == SegmentFormat.frameMagic[0], raw[offset + 1] == SegmentFormat.frameMagic[1],
                raw[offset + 2] == SegmentFormat.frameMagic[2], raw[offset + 3] == SegmentFormat.frameMagic[3]
            {
                let claimed =
                    Int(ByteReader.integer(UInt16.self, in: raw, at: offset + 6) ?? 0)
                    + Int(ByteReader.integer(UInt32.self, in: raw, at: offset + 8) ?? 0)
                budget -= min(claimed, raw.count - offset)
                if budget < 0 { return nil }
                if case .frame = probe(raw, at: offset) { return offset }
            }
            offset += 1
        }
        return nil
    }
}
