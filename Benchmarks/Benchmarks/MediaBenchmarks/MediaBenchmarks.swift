// Sanitising a 5 MB JPEG: `ImageSanitizer.sanitize` reads the segments, rebuilds the EXIF block
// without GPS, serials and owner names, drops XMP and the comment, and copies the tables and
// the 5 MB of entropy-coded data byte for byte (no pixel decoding). Target (issue 9): under
// 10 ms. One iteration is one image. See Documentation/Performance.md.

import Benchmark
import StewardMedia

/// A JPEG of about 5 MB: JFIF, EXIF (GPS, body and lens serial, owner, artist, capture time,
/// make and model, a maker note), XMP with a location, a comment, tables, a frame header, a scan
/// header, then entropy-coded-like data: pseudo-random bytes whose 0xFF bytes are stuffed with
/// 0x00, restart markers every 64 KiB, and the end-of-image marker.
private func sampleJPEG(scanBytes: Int) -> [UInt8] {
    func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    func le32(_ v: Int) -> [UInt8] { le16(v & 0xFFFF) + le16((v >> 16) & 0xFFFF) }
    func segment(_ marker: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [0xFF, marker, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload
    }
    func ascii(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }
    // (tag, type, count, value bytes)
    typealias Field = (UInt16, UInt16, Int, [UInt8])
    func directory(_ fields: [Field], at offset: Int) -> (bytes: [UInt8], size: Int) {
        var out = le16(fields.count), data: [UInt8] = []
        var dataAt = offset + 2 + 12 * fields.count + 4
        for (tag, type, count, value) in fields.sorted(by: { $0.0 < $1.0 }) {
            out += le16(Int(tag)) + le16(Int(type)) + le32(count)
            if value.count <= 4 {
                out += value + [UInt8](repeating: 0, count: 4 - value.count)
            } else {
                out += le32(dataAt)
                data += value
                if value.count % 2 == 1 { data.append(0) }
                dataAt += (value.count + 1) & ~1
            }
        }
        out += le32(0) + data
        return (out, out.count)
    }
    let exif: [Field] = [
        (0x9003, 2, 20, ascii("2026:11:01 10:00:00")), (0xA430, 2, 12, ascii("Alice Owner")),
        (0xA431, 2, 13, ascii("SN-123456789")), (0xA435, 2, 12, ascii("LS-98765432")),
        (0x927C, 7, 64, [UInt8](repeating: 0x4D, count: 64)), (0xA001, 3, 1, le16(1)),
    ]
    let gps: [Field] = [
        (0x0001, 2, 2, ascii("N")), (0x0002, 5, 3, le32(22) + le32(1) + le32(32) + le32(1) + le32(1234) + le32(100)),
        (0x0003, 2, 2, ascii("E")), (0x0004, 5, 3, le32(114) + le32(1) + le32(3) + le32(1) + le32(5678) + le32(100)),
    ]
    var ifd0: [Field] = [
        (0x010F, 2, 10, ascii("CanaryCam")), (0x0110, 2, 8, ascii("CX-1000")), (0x0112, 3, 1, le16(1)),
        (0x013B, 2, 12, ascii("Bob Artist")), (0x0132, 2, 20, ascii("2026:11:01 10:00:00")),
        (0x8769, 4, 1, le32(0)), (0x8825, 4, 1, le32(0)),
    ]
    let mainSize = directory(ifd0, at: 8).size
    let exifAt = 8 + mainSize
    let exifSize = directory(exif, at: exifAt).size
    ifd0[5].3 = le32(exifAt)
    ifd0[6].3 = le32(exifAt + exifSize)
    let tiff =
        [0x49, 0x49] + le16(42) + le32(8) + directory(ifd0, at: 8).bytes + directory(exif, at: exifAt).bytes
        + directory(gps, at: exifAt + exifSize).bytes
    let xmp =
        #"<x:xmpmeta><rdf:Description exif:GPSLatitude="22,32N" photoshop:City="Shenzhen"><dc:creator>Alice</dc:creator></rdf:Description></x:xmpmeta>"#

    var file: [UInt8] = [0xFF, 0xD8]
    file += segment(0xE0, Array("JFIF".utf8) + [0, 1, 2, 0, 0, 72, 0, 72, 0, 0])
    file += segment(0xE1, Array("Exif".utf8) + [0, 0] + tiff)
    file += segment(0xE1, ascii("http://ns.adobe.com/xap/1.0/") + Array(xmp.utf8))
    file += segment(0xFE, Array("taken at the Shenzhen office by Alice".utf8))
    file += segment(0xDB, [0] + (1...64).map { UInt8($0) })
    file += segment(0xC0, [8, 0x0F, 0xA0, 0x0B, 0xB8, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
    file += segment(0xC4, [0] + [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0] + Array(0...11))
    file += segment(0xDD, [0x04, 0x00])
    file += segment(0xDA, [3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0])
    file.reserveCapacity(file.count + scanBytes + scanBytes / 128)
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var restart: UInt8 = 0
    var sinceRestart = 0
    let end = file.count + scanBytes
    while file.count < end {
        // SplitMix64: the same bytes on every run.
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        for shift in stride(from: 0, to: 64, by: 8) {
            let byte = UInt8(truncatingIfNeeded: z >> UInt64(shift))
            file.append(byte)
            if byte == 0xFF { file.append(0x00) }
        }
        sinceRestart += 8
        if sinceRestart >= 65_536 {
            file += [0xFF, 0xD0 + restart]
            restart = (restart + 1) & 7
            sinceRestart = 0
        }
    }
    file += [0xFF, 0xD9]
    return file
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: 5,
        maxDuration: .seconds(5),
        maxIterations: 1_000,
        thresholds: [.wallClock: BenchmarkThresholds(relative: [.p50: 15.0])]
    )
    let jpeg = sampleJPEG(scanBytes: 5 * 1024 * 1024)

    Benchmark(
        "Sanitise a 5 MB JPEG (EXIF rebuilt, GPS/serials/owner removed, pixels copied)", configuration: configuration
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try ImageSanitizer.sanitize(jpeg, policy: .strict))
        }
    }

    Benchmark("Sanitise a 5 MB JPEG keeping capture time, model and location", configuration: configuration) {
        benchmark in
        let policy = MetadataPolicy(keepCaptureTime: true, keepDeviceModel: true, keepLocation: true)
        for _ in benchmark.scaledIterations {
            blackHole(try ImageSanitizer.sanitize(jpeg, policy: policy))
        }
    }
}
