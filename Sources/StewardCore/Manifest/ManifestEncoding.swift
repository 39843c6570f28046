import Foundation

extension PrivacyManifest {
    /// The manifest as the JSON ``decode(json:now:)-([UInt8],_)`` reads: pretty-printed, keys sorted,
    /// event expiry as `YYYY-MM-DD` (the UTC day), fields that are nil left out, and a final
    /// newline.
    ///
    /// Decoding the result gives back an equal manifest when every `expires` is at the start
    /// of a UTC day (as decoded ones are).
    ///
    /// - Throws: `EncodingError` if an event's `expires` is outside the years 0001–9999.
    ///
    /// ```swift
    /// let json = try manifest.encodeJSON()
    /// print(String(decoding: json, as: UTF8.self))
    /// ```
    public func encodeJSON() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }
}
