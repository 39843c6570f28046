import Foundation
import StewardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The Swift runtime's own crash report, written when the app runs with
/// `SWIFT_BACKTRACE=enable=yes,format=json,output-to=<Steward's crash folder>`: every thread,
/// symbolicated, with source locations where debug information exists. Steward's handler runs
/// first and chains to the runtime's backtracer; on the next launch the runtime's file
/// (`<program>-<pid>-<n>.json`) is merged into the report of the same process.
struct RuntimeBacktrace: Sendable {
    struct Frame: Sendable {
        var address: UInt64
        var symbol: String?
        var description: String?
        var image: String?
        var file: String?
        var line: Int?
    }

    struct Thread: Sendable {
        var name: String?
        var crashed: Bool
        var frames: [Frame]
    }

    struct Image: Sendable {
        var name: String?
        var path: String?
        var buildID: String?
        var baseAddress: UInt64
        var endOfText: UInt64?
    }

    var description: String?
    var timestamp: Date?
    var faultAddress: UInt64?
    var threads: [Thread]
    var images: [Image]

    /// The largest runtime report read (a report of many threads is a few hundred KiB).
    static let maximumSize = 16 << 20

    /// Parses the runtime's JSON; nil when it is not such a report.
    static func parse(_ bytes: [UInt8]) -> RuntimeBacktrace? {
        guard bytes.count <= maximumSize,
            let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            object["kind"] as? String == "crashReport"
        else { return nil }
        let threads = (object["threads"] as? [[String: Any]] ?? []).map { thread in
            Thread(
                name: thread["name"] as? String, crashed: thread["crashed"] as? Bool ?? false,
                frames: (thread["frames"] as? [[String: Any]] ?? []).compactMap { frame in
                    guard let address = hex(frame["address"]) else { return nil }
                    let location = frame["sourceLocation"] as? [String: Any]
                    return Frame(
                        address: address, symbol: frame["symbol"] as? String,
                        description: frame["description"] as? String, image: frame["image"] as? String,
                        file: location?["file"] as? String, line: location?["line"] as? Int)
                })
        }
        let images = (object["images"] as? [[String: Any]] ?? []).compactMap { image -> Image? in
            guard let base = hex(image["baseAddress"]) else { return nil }
            return Image(
                name: image["name"] as? String, path: image["path"] as? String, buildID: image["buildId"] as? String,
                baseAddress: base, endOfText: hex(image["endOfText"]))
        }
        // Not ISO8601DateFormatter: ICU dies of SIGFPE on a long fraction (found by FuzzRuntimeBacktrace).
        let timestamp = (object["timestamp"] as? String).flatMap { CivilTime.date(rfc3339: $0) }
        return RuntimeBacktrace(
            description: object["description"] as? String, timestamp: timestamp,
            faultAddress: hex(object["faultAddress"]), threads: threads, images: images)
    }

    /// The runtime report of process `pid` written around `date` (within two minutes: a pid
    /// repeats, PID 1 in every container) in `directory`, if there is one.
    static func find(pid: Int32, near date: Date, in directory: String) -> (path: String, report: RuntimeBacktrace)? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        for name in names.sorted() where name.hasSuffix(".json") && name.contains("-\(pid)-") {
            let path = directory + "/" + name
            guard let bytes = readRegularFile(path, limit: maximumSize), let report = parse(bytes) else { continue }
            if let timestamp = report.timestamp, abs(timestamp.timeIntervalSince(date)) > 120 { continue }
            return (path, report)
        }
        return nil
    }

    /// Merges this report into `report`: the other threads, and source locations (and names
    /// where Steward found none) for the crashed thread's frames with the same addresses.
    func merge(into report: inout CrashReport, scrub: (String) -> String) {
        var byAddress: [UInt64: Frame] = [:]
        for frame in threads.first(where: \.crashed)?.frames ?? [] { byAddress[frame.address] = frame }
        for index in report.crashedThread.frames.indices {
            let address = report.crashedThread.frames[index].instructionAddress
            guard let match = byAddress[address] else { continue }
            if let file = match.file, report.crashedThread.frames[index].filename == nil {
                report.crashedThread.frames[index].filename = scrub(file)
                report.crashedThread.frames[index].line = match.line
            }
            if report.crashedThread.frames[index].function == nil, let description = match.description {
                report.crashedThread.frames[index].function = Self.functionName(description)
            }
        }
        var others: [CrashThread] = []
        for (index, thread) in threads.enumerated() where !thread.crashed {
            others.append(
                CrashThread(
                    id: Int64(index), name: thread.name,
                    frames: thread.frames.map { frame in
                        StackFrame(
                            instructionAddress: frame.address, function: frame.description.map(Self.functionName),
                            package: frame.image.map(scrub), filename: frame.file.map(scrub), line: frame.line)
                    },
                    crashed: false))
        }
        report.otherThreads = others
        // Images the runtime saw that Steward's list lacks (the build IDs are the runtime's).
        var known = Set(report.images.map(\.start))
        for image in images where !known.contains(image.baseAddress) {
            report.images.append(
                BinaryImage(
                    path: scrub(image.path ?? image.name ?? "?"), start: image.baseAddress,
                    end: image.endOfText ?? image.baseAddress, buildID: image.buildID))
            known.insert(image.baseAddress)
        }
        report.runtimeBacktraceMerged = true
    }

    /// "boom(_:) + 135" → "boom(_:)".
    static func functionName(_ description: String) -> String {
        guard let plus = description.range(of: " + ", options: .backwards),
            description[plus.upperBound...].allSatisfy(\.isNumber)
        else { return description }
        return String(description[..<plus.lowerBound])
    }

    private static func hex(_ value: Any?) -> UInt64? {
        guard let text = value as? String, text.hasPrefix("0x") else { return nil }
        return UInt64(text.dropFirst(2), radix: 16)
    }
}

/// The bytes of a regular file of at most `limit` bytes, read to its end (procfs files report
/// a size of 0 and must be read until `read` returns 0); nil for anything else: a FIFO or a
/// device in its place is never opened for reading.
func readRegularFile(_ path: String, limit: Int) -> [UInt8]? {
    var before = stat()
    guard lstat(path, &before) == 0, before.st_mode & S_IFMT == S_IFREG, Int(before.st_size) <= limit else {
        return nil
    }
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while result.count <= limit {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count < 0 { return nil }
        if count == 0 { return result }
        result.append(contentsOf: chunk[0..<count])
    }
    return nil
}
