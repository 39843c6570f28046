import Foundation
import StewardCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The next launch: raw records become reports, stored under consent.
extension CrashReporter {
    // MARK: - Next launch

    /// Whether the app crashed within ``Configuration/launchCrashWindow`` of its start
    /// ``Configuration/launchCrashCount`` times in a row (Bugly's rule): the host may enter a
    /// safe mode and send the reports before it goes on. Reset once a launch survives the window.
    public var crashedOnLaunch: Bool { launchCrashes.load(ordering: .relaxed) >= configuration.launchCrashCount }

    /// Turns every raw record in the crash folder into a report, stores it under the
    /// crash-reporting consent, and unlinks the raw file. Never throws: each problem is
    /// listed in the result. Call it at start, before the app does anything else.
    @discardableResult
    public func processPending() -> PendingResult {
        // libdw's sessions map the images' files: none stays open after the batch.
        defer { symbolicator.releaseSourceLines() }
        var result = PendingResult()
        let directory = configuration.crashDirectory
        // No folder: nothing crashed (earlier sessions are still closed below).
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var consecutive = launchCrashes.load(ordering: .relaxed)
        // Read every record first: a crash inside the handler leaves two records of one crash
        // (the partial one it was writing and a NESTED one) that become one report.
        var records: [(name: String, raw: RawCrashRecord)] = []
        // At most `maximumRecordsPerLaunch` records a launch (each up to 8 MiB in memory at
        // once): a folder flooded with records is worked through over several launches.
        for name in names.sorted().lazy.filter({ $0.hasSuffix(".stewardcrash") }).prefix(Self.maximumRecordsPerLaunch) {
            let path = directory + "/" + name
            guard let bytes = readRegularFile(path, limit: RawCrashRecord.maximumSize) else {
                result.problems.append(
                    "\(name): not a regular file of at most \(RawCrashRecord.maximumSize) bytes; removed")
                try? FileSystem.removeFile(path)
                continue
            }
            guard let header = SealedCrashRecord.header(of: bytes) else {
                // Unsealed: written by an earlier Steward, damaged, or planted. Not trusted.
                result.problems.append(
                    "\(name): not a sealed crash record (format \(SealedCrashRecord.version)); removed unread")
                try? FileSystem.removeFile(path)
                continue
            }
            let key: [UInt8]
            do {
                key = try vault.derivedKey(label: SealedCrashRecord.keyLabel, salt: header.salt)
            } catch {
                result.problems.append("\(name): no key to open it (\(error)); kept for the next launch")
                continue
            }
            let sealed = SealedCrashRecord.open(bytes, header: header, key: key)
            let pid = Int32(bitPattern: header.pid)
            if !sealed.sawLast, Self.isBeingWritten(path: path, pid: pid) {
                // Its process is alive and wrote it a moment ago: still being written. Next launch.
                continue
            }
            guard sealed.chunks > 0 else {
                result.problems.append(
                    "\(name): \(sealed.note ?? "no chunk") — it cannot be authenticated (altered, or sealed under another vault key); removed"
                )
                try? FileSystem.removeFile(path)
                continue
            }
            var raw = RawCrashRecord.parse(sealed.stream)
            if let note = sealed.note {
                raw.notes.append(note)
                raw.partial = true
            }
            records.append((name, raw))
        }
        var consumedRuntimeFiles: Set<String> = []
        for (name, raw) in records {
            if raw.nestedSignal != nil,
                records.contains(where: {
                    $0.name != name && $0.raw.pid == raw.pid && $0.raw.tid == raw.tid && $0.raw.nestedSignal == nil
                })
            {
                continue  // merged into its outer record below
            }
            var paths = [directory + "/" + name]
            var outer = raw
            if let nested = records.first(where: {
                $0.name != name && $0.raw.pid == raw.pid && $0.raw.tid == raw.tid && $0.raw.nestedSignal != nil
            }) {
                outer.notes.append(
                    "the crash handler itself crashed (signal \(nested.raw.nestedSignal ?? 0)) while writing this record"
                )
                outer.partial = true
                paths.append(directory + "/" + nested.name)
            }
            var report = makeReport(outer)
            let scrubber = Self.scrubber(outer)
            if let pid = outer.pid,
                let (runtimePath, runtime) = RuntimeBacktrace.find(pid: pid, near: report.timestamp, in: directory)
            {
                runtime.merge(into: &report, scrub: { scrubber.scrub($0) })
                report = scrubber.scrub(report: report)
                paths.append(runtimePath)
                consumedRuntimeFiles.insert(runtimePath)
            }
            do {
                let outcome = try store(report)
                try vault.commit()
                result.reports.append(report)
                result.outcomes.append(outcome)
                // Unlinked only once the report is durable (or deliberately not kept).
                for path in paths { try? FileSystem.removeFile(path) }
            } catch {
                result.problems.append(
                    "\(name): the report could not be stored (\(error)); the raw record is kept for the next launch")
                continue
            }
            if let seconds = report.secondsSinceStart, seconds <= launchCrashWindowSeconds {
                // Read back from the vault: saturate rather than trap on a planted count.
                consecutive = consecutive.saturatingAdding(1)
            } else {
                consecutive = 0
            }
        }
        // The runtime's reports of crashes Steward has no record of (before install(), or a
        // record already gone) hold unscrubbed paths: they do not stay.
        for name in names where name.hasSuffix(".json") {
            let path = directory + "/" + name
            if !consumedRuntimeFiles.contains(path), Self.age(of: path) > 600 { try? FileSystem.removeFile(path) }
        }
        if !records.isEmpty || !names.isEmpty { Self.syncDirectory(directory) }
        if !result.reports.isEmpty {
            launchCrashes.store(consecutive, ordering: .relaxed)
            try? saveLaunchState(consecutive)
        }
        closeEarlierSessions(crashed: Set(result.reports.compactMap(\.context.sessionID)))
        result.crashedOnLaunch = crashedOnLaunch
        scheduleLaunchConfirmation()
        return result
    }

    /// The reports kept in the vault, oldest first (handled errors captured before the call
    /// included: they are stored first).
    public func storedReports() throws -> [CrashReport] {
        flushHandledErrors()
        let decoder = JSONDecoder()
        var reports: [CrashReport] = []
        try vault.forEachRecord(in: Self.collection) { record in
            if let report = try? decoder.decode(CrashReport.self, from: Data(record.data)) { reports.append(report) }
        }
        return reports
    }

    /// Tells the reporter that this launch survived: the launch-crash count starts again.
    /// Called automatically once ``Configuration/launchCrashWindow`` has passed after
    /// ``install()``.
    public func confirmLaunchSucceeded() {
        guard launchCrashes.exchange(0, ordering: .relaxed) != 0 else { return }
        try? saveLaunchState(0)
    }

    func makeReport(_ raw: RawCrashRecord) -> CrashReport {
        let blob = raw.context.isEmpty ? nil : try? JSONDecoder().decode(ContextBlob.self, from: Data(raw.context))
        // Without a context (a record cut short), this process's home and user stand in.
        let scrubber = Self.scrubber(raw)
        var frames: [StackFrame]
        var images: [BinaryImage] = []
        let addresses = Self.bestFrames(raw)
        frames = addresses.map { StackFrame(instructionAddress: $0) }
        if configuration.symbolication != .none, !addresses.isEmpty, let maps = raw.maps {
            (frames, images) = symbolicator.symbolicate(addresses: addresses, maps: maps, firstIsReturnAddress: false)
        }
        var notes = raw.notes
        if raw.nestedSignal != nil { notes.append("the crash handler itself crashed; the record holds the minimum") }
        let signal = raw.signalNumber.map {
            CrashSignal(
                number: $0, name: SignalNames.name($0), code: raw.signalCode ?? 0,
                codeName: SignalNames.codeName(signal: $0, code: raw.signalCode ?? 0),
                faultAddress: SignalNames.hasFaultAddress($0) ? raw.faultAddress : nil)
        }
        // Both times come from the record file: a negative install time is not one the
        // handler writes, and the difference is taken without overflow.
        var seconds: Double?
        if let crash = raw.monotonicNs, let install = raw.installMonotonicNs, install >= 0, crash >= install {
            let (difference, overflow) = crash.subtractingReportingOverflow(install)
            if !overflow { seconds = Double(difference) / 1e9 }
        }
        // Why a Swift trap happened: the runtime's message, else the trap's name in DWARF.
        // A fault next to the stack pointer is the stack running out.
        let error =
            raw.fatalMessage.flatMap { FatalErrorMessage.error(fromRuntimeMessage: $0) }
            ?? FatalErrorMessage.error(fromFrames: frames)
            ?? FatalErrorMessage.stackOverflow(
                signal: raw.signalNumber, faultAddress: raw.faultAddress,
                stackPointer: raw.registers["rsp"] ?? raw.registers["sp"])
        let report = CrashReport(
            id: Self.eventID(),
            timestamp: raw.realtimeNs.map { Date(timeIntervalSince1970: Double($0) / 1e9) } ?? clock.checkedNow,
            handled: false, partial: raw.partial, signal: signal, error: error,
            crashedThread: CrashThread(
                id: Int64(raw.tid ?? 0), name: raw.threadName, frames: frames, registers: raw.registers, crashed: true),
            images: images, breadcrumbs: raw.breadcrumbs, context: blob?.context ?? CrashContext(),
            secondsSinceStart: seconds, handlerNanoseconds: raw.timingNs, salvageNotes: notes)
        return scrubber.scrub(report: report)
    }

    func store(_ report: CrashReport) throws -> GateOutcome {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try consent.store(
            Array(try encoder.encode(report)), in: Self.collection, category: .crashDiagnostics,
            purpose: .crashReporting, retention: configuration.retention)
    }

    /// The DWARF unwind when it starts at the crashed instruction (it skipped the handler's
    /// own frames), else the frame-pointer walk (which always starts there), else whatever
    /// there is.
    static func bestFrames(_ raw: RawCrashRecord) -> [UInt64] {
        let pc = raw.registers["rip"] ?? raw.registers["pc"]
        if let first = raw.dwarfFrames.first, first == pc, raw.dwarfFrames.count >= 2 { return raw.dwarfFrames }
        if !raw.framePointerFrames.isEmpty { return raw.framePointerFrames }
        return raw.dwarfFrames
    }

    /// Whether `path` is a record its (live) process may still be writing.
    /// The most raw records one ``processPending()`` reads; the rest wait for the next launch.
    static let maximumRecordsPerLaunch = 32

    static func isBeingWritten(path: String, pid: Int32?) -> Bool {
        guard let pid, pid > 0, age(of: path) < 60 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Seconds since `path` was last modified (infinity when unknown).
    static func age(of path: String) -> Double {
        var info = stat()
        guard stat(path, &info) == 0 else { return .infinity }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        // The mtime is outside input (tmpfs and btrfs keep any 64-bit value): saturate.
        return Double(now.tv_sec.saturatingSubtracting(info.st_mtim.tv_sec))
    }

    /// Makes unlinks in `directory` durable.
    static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
