import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Short texts a filter found clean, remembered so the same screen names, routes and log
/// messages are not searched again and again.
///
/// A direct-mapped cache: each text has one slot, picked by an FNV-1a hash of its UTF-8 bytes,
/// and a newer clean text takes the slot of an older one. A text is found only where its
/// exact bytes are stored: Swift's `==` on strings is canonical equivalence (a decomposed "é"
/// equals the composed one), and a text equal to a clean one that way may hold an
/// identifier's bytes. A collision or an evicted text costs a search, never a wrong answer,
/// so texts chosen to collide gain an attacker nothing. Only texts of up to ``valueLimit``
/// bytes are remembered.
///
/// Answers belong to one filter: the caller passes the filter's generation, and a memo asked
/// with another generation forgets everything.
package final class CleanTextMemo: Sendable {
    /// The longest text remembered, in UTF-8 bytes.
    package static let valueLimit = 64
    /// The number of slots (a power of two): the most texts remembered at once.
    package static let capacity = 512

    private struct Table {
        var generation: UInt64
        var slots: [String?]
    }

    private let table = Mutex(Table(generation: 0, slots: Array(repeating: nil, count: CleanTextMemo.capacity)))

    /// An empty memo.
    package init() {}

    /// Whether `text` was found clean before, by the filter of `generation`.
    package func contains(_ text: String, generation: UInt64 = 0) -> Bool {
        guard let slot = Self.slot(of: text) else { return false }
        return table.withLock { table in
            guard table.generation == generation, let stored = table.slots[slot] else { return false }
            return Self.sameBytes(stored, text)
        }
    }

    /// Remembers that the filter of `generation` found `text` clean (a text longer than
    /// ``valueLimit`` is not remembered).
    package func insert(_ text: String, generation: UInt64 = 0) {
        guard let slot = Self.slot(of: text) else { return }
        table.withLock { table in
            if table.generation != generation {
                table.generation = generation
                for index in table.slots.indices { table.slots[index] = nil }
            }
            table.slots[slot] = text
        }
    }

    /// The slot of `text`, or nil when it is too long to remember.
    package static func slot(of text: String) -> Int? {
        var text = text
        return text.withUTF8 { bytes -> Int? in
            guard bytes.count <= valueLimit else { return nil }
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            return Int(truncatingIfNeeded: hash ^ (hash >> 32)) & (capacity - 1)
        }
    }

    /// Whether `a` and `b` are the same UTF-8 bytes.
    private static func sameBytes(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                guard let p = x.baseAddress, let q = y.baseAddress else { return x.count == y.count }
                return memcmp(p, q, x.count) == 0
            }
        }
    }
}
