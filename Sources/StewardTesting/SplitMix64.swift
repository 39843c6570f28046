/// A small deterministic random number generator (SplitMix64): the same seed gives the same
/// sequence on every machine, so a fuzz or property test that fails can be replayed.
///
/// ```swift
/// var random = SplitMix64(seed: 42)
/// let flips = (0..<100).map { _ in Int.random(in: 0..<recordSize, using: &random) }
/// ```
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's state; it advances with every number.
    public private(set) var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A random integer in `range`.
    public mutating func int(in range: Range<Int>) -> Int { Int.random(in: range, using: &self) }
    /// A random integer in `range`.
    public mutating func int(in range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    /// `count` random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }
}
