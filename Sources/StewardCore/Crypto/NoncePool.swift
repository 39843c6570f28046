import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Random 96-bit GCM nonces drawn from the CSPRNG a kilobyte at a time.
///
/// OpenSSL 3.0's `RAND_bytes` costs about 0.75 µs per call whatever the size, more than sealing
/// a small record, so each ``AESGCM/Cipher`` takes 85 nonces per call instead of one. The
/// nonces are exactly as random as single draws; they are not secret, only unique.
///
/// After `fork()` a child would inherit the same unused nonces as its parent, and the two would
/// seal different messages under one key and nonce. A `pthread_atfork` child handler bumps a
/// process-wide generation, and a pool refills whenever the generation it was filled under is
/// no longer current.
struct NoncePool: ~Copyable {
    private static let capacity = 85 * AESGCM.nonceByteCount
    private var bytes = [UInt8](repeating: 0, count: NoncePool.capacity)
    private var used = NoncePool.capacity
    private var generation = UInt64.max

    init() {
        _ = forkHandlerInstalled
    }

    /// Writes the next nonce into `output` (12 bytes).
    mutating func next(into output: UnsafeMutableRawBufferPointer) throws {
        let current = forkGeneration.load(ordering: .acquiring)
        if used == Self.capacity || generation != current {
            try bytes.withUnsafeMutableBytes { try SecureRandom.fill($0) }
            used = 0
            generation = current
        }
        bytes.withUnsafeBytes { pool in
            output.copyMemory(from: UnsafeRawBufferPointer(rebasing: pool[used..<(used + AESGCM.nonceByteCount)]))
        }
        // Wipe what was handed out, so no copy of a used nonce lingers to be handed out again.
        _ = bytes.withUnsafeMutableBytes { pool in
            UnsafeMutableRawBufferPointer(rebasing: pool[used..<(used + AESGCM.nonceByteCount)]).initializeMemory(
                as: UInt8.self, repeating: 0)
        }
        used += AESGCM.nonceByteCount
    }
}

/// Bumped in every child process after `fork()`.
private let forkGeneration = Atomic<UInt64>(0)

private let forkHandlerInstalled: Bool = {
    pthread_atfork(nil, nil, { forkGeneration.add(1, ordering: .releasing) }) == 0
}()
