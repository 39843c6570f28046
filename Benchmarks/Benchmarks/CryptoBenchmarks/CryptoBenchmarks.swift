// AES-256-GCM seal throughput at 16 KiB, to compare with `openssl speed -evp aes-256-gcm`
// (its 16384-byte column). See Documentation/Performance.md.
//
// Every benchmark iteration seals `scalingFactor` (1,000) messages, so the reported
// throughput is messages sealed per second; multiply by 16,384 for bytes per second.

import Benchmark
import StewardCore

/// Buffers allocated once per process and reused by every iteration, so the measurement
/// holds the seal and nothing else.
private final class SealBuffers: @unchecked Sendable {
    // @unchecked Sendable: each benchmark runs on one thread at a time; nothing else touches these.
    let plaintext: UnsafeMutableRawBufferPointer
    let aad: UnsafeMutableRawBufferPointer
    let output: UnsafeMutableRawBufferPointer
    let plaintextArray: [UInt8]

    init(messageSize: Int, aadSize: Int) throws {
        plaintext = .allocate(byteCount: messageSize, alignment: 64)
        aad = .allocate(byteCount: aadSize, alignment: 64)
        output = .allocate(byteCount: messageSize + AESGCM.overhead, alignment: 64)
        try SecureRandom.fill(plaintext)
        try SecureRandom.fill(aad)
        output.initializeMemory(as: UInt8.self, repeating: 0)
        plaintextArray = Array(plaintext)
    }
}

let benchmarks: @Sendable () -> Void = {
    let messageSize = 16 * 1024
    let aadSize = 32

    // Seals are a few microseconds each: 1,000 per iteration keeps the timer's overhead out,
    // and 5 s bounds the run (about 1,000 iterations, 16 GiB sealed, at 3 GB/s).
    let configuration = Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .cpuTotal],
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(5),
        maxIterations: 10_000,
        // Tolerances for `benchmark baseline check` / `thresholds check`: a run counts as a
        // regression when its median is more than 10% worse than the reference.
        thresholds: [
            .throughput: BenchmarkThresholds(relative: [.p50: 10.0]),
            .wallClock: BenchmarkThresholds(relative: [.p50: 10.0]),
        ]
    )

    let key: SymmetricKey
    let cipher: AESGCM.Cipher
    let buffers: SealBuffers
    do {
        key = try SymmetricKey.random()
        cipher = try AESGCM.Cipher(key: key)
        buffers = try SealBuffers(messageSize: messageSize, aadSize: aadSize)
    } catch {
        fatalError("benchmark setup failed: \(error)")
    }
    let noAAD = UnsafeRawBufferPointer(start: nil, count: 0)

    // 1. The vault's path: one keyed Cipher, caller-owned buffers, nothing copied.
    Benchmark("AES-256-GCM seal 16 KiB (Cipher, raw buffers, no AAD)", configuration: configuration) { benchmark in
        let plaintext = UnsafeRawBufferPointer(buffers.plaintext)
        for _ in benchmark.scaledIterations {
            try cipher.seal(plaintext, authenticating: noAAD, into: buffers.output)
        }
        blackHole(buffers.output[AESGCM.nonceByteCount])
    }

    Benchmark("AES-256-GCM seal 16 KiB (Cipher, raw buffers, 32 B AAD)", configuration: configuration) { benchmark in
        let plaintext = UnsafeRawBufferPointer(buffers.plaintext)
        let aad = UnsafeRawBufferPointer(buffers.aad)
        for _ in benchmark.scaledIterations {
            try cipher.seal(plaintext, authenticating: aad, into: buffers.output)
        }
        blackHole(buffers.output[AESGCM.nonceByteCount])
    }

    // 2. The convenience API: a new Cipher (key schedule, two EVP contexts) and three arrays
    //    per message.
    Benchmark("AES-256-GCM seal 16 KiB (one-shot AESGCM.seal)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try AESGCM.seal(buffers.plaintextArray, using: key))
        }
    }
}
