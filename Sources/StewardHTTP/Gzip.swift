import CStewardZlib

/// gzip (RFC 1952) through zlib, for request bodies.
enum Gzip {
    /// The gzip form of `bytes`, or nil when zlib fails (the caller then sends them as they are).
    static func compress(_ bytes: [UInt8]) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: steward_gzip_bound(bytes.count))
        var length = output.count
        let status = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                steward_gzip_compress(input.baseAddress, input.count, out.baseAddress, &length)
            }
        }
        guard status == Z_OK else { return nil }
        output.removeSubrange(length...)
        return output
    }

    /// The bytes a gzip stream holds, or nil when it is damaged or would exceed `limit` bytes.
    static func decompress(_ bytes: [UInt8], limit: Int = 16 << 20) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: limit)
        var length = limit
        let status = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                steward_gzip_decompress(input.baseAddress, input.count, out.baseAddress, &length)
            }
        }
        guard status == Z_OK else { return nil }
        output.removeSubrange(length...)
        return output
    }
}
