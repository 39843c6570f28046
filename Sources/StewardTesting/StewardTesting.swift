public import StewardCore
public import struct Foundation.Date
import Synchronization

/// A wall clock that stands still until told to move: for tests of retention, expiry and
/// anything else that depends on the date.
///
/// ```swift
/// let clock = ManualWallClock(now: Date(timeIntervalSince1970: 1_700_000_000))
/// clock.advance(by: .seconds(86_400 * 31))
/// ```
public final class ManualWallClock: WallClock {
    private let current: Mutex<Date>

    /// Creates a clock showing `now` (default: 2026-01-01T00:00:00Z).
    public init(now: Date = Date(timeIntervalSince1970: 1_767_225_600)) {
        current = Mutex(now)
    }

    /// The date the clock shows.
    public var now: Date { current.withLock { $0 } }

    /// Moves the clock forward (or back, for a negative duration). Any duration works, up to
    /// `Duration(attoseconds: .max)`.
    public func advance(by duration: Duration) {
        let interval = duration.secondsDouble
        current.withLock { $0 = $0.addingTimeInterval(interval) }
    }

    /// Sets the date the clock shows.
    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}

/// Keys held in memory, for tests that need a `KeyProvider` without files.
///
/// It keeps the contract of the protocol: a key is created only when allowed, the same name
/// returns the same key, and a destroyed key is gone.
public final class InMemoryKeyProvider: KeyProvider {
    private let keys = Mutex<[String: SymmetricKey]>([:])

    /// Creates a provider with no keys.
    public init() {}

    /// Returns the key called `name`, creating a random one first when it is missing and
    /// `createIfMissing` is true.
    ///
    /// - Parameters:
    ///   - name: Any name.
    ///   - createIfMissing: Whether a missing key is created.
    /// - Returns: The same key for the same name until it is destroyed.
    /// - Throws: ``InMemoryKeyProviderError`` for a missing key that may not be created.
    public func key(named name: String, createIfMissing: Bool) throws -> SymmetricKey {
        try keys.withLock { keys in
            if let key = keys[name] { return key }
            guard createIfMissing else { throw InMemoryKeyProviderError(name: name) }
            let key = try SymmetricKey.random()
            keys[name] = key
            return key
        }
    }

    /// Forgets the key called `name`; ``hasKey(named:)`` is false afterwards. Never throws;
    /// destroying a missing key succeeds.
    ///
    /// - Parameter name: The key's name.
    public func destroyKey(named name: String) throws {
        _ = keys.withLock { $0.removeValue(forKey: name) }
    }

    /// Whether a key called `name` exists.
    public func hasKey(named name: String) -> Bool {
        keys.withLock { $0[name] != nil }
    }
}

/// Thrown by ``InMemoryKeyProvider`` for a missing key that may not be created.
public struct InMemoryKeyProviderError: Error, Hashable, Sendable {
    /// The key's name.
    public let name: String
}
