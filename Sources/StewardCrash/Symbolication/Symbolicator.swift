#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
internal import Foundation
import StewardCore

/// Turns the raw addresses of a crash record into ``StackFrame``s and the ``BinaryImage``s
/// they point into, using the `/proc/self/maps` text captured at the crash.
///
/// For each address: the image whose mapping holds it; the address in the ELF file's virtual
/// address space (minus the load bias); the function symbol containing it, demangled; and,
/// when asked for, the source file, line and column: from the image's own DWARF through
/// elfutils' libdw (``DWARFSourceLines``), where libdw is installed, with each inlined call
/// as a frame of its own (innermost first, all with the same instruction address); else from
/// `llvm-symbolizer` where it is given. For every frame but the first (return addresses) the
/// lookup uses `address - 1`, so that a call at the very end of a function is attributed to
/// that function and line.
///
/// ELF files (and libdw sessions) are opened once per path and cached; a cached file is used again only while its
/// device, inode, size and modification time are unchanged. A file whose inode differs from
/// the one in the maps (replaced since the crash, say by an update) or that the maps mark
/// `(deleted)` is not used for symbols: frames in it keep only their addresses.
///
/// Addresses outside every file-backed image (anonymous memory, `[vdso]`, garbage) keep only
/// their address. The returned paths are raw: pass the result through ``Scrubber`` before
/// storing it.
///
/// - Important: ``symbolicate(maps:addresses:firstIsReturnAddress:)`` is synchronous and
///   blocks while it reads files and runs `llvm-symbolizer` (up to ``symbolizerTimeout`` per
///   image). Do not call it on the Swift concurrency pool; from async code use
///   ``symbolicateOnThread(maps:addresses:firstIsReturnAddress:)``, which does the work on a
///   thread of its own.
final class Symbolicator: Sendable {
    /// The frames, in the order of the addresses, and the images they reference.
    struct Output: Hashable, Sendable {
        var frames: [StackFrame]
        var images: [BinaryImage]
    }

    /// Whether file, line and column come from DWARF through libdw (when it is installed).
    let dwarfLines: Bool
    /// The `llvm-symbolizer` used for file and line where libdw is not used; nil for none.
    let symbolizerPath: String?
    /// How long one `llvm-symbolizer` run may take before it is killed.
    let symbolizerTimeout: Duration
    private let pageSize: UInt64
    private let cache = Mutex<[String: CachedFile]>([:])
    private let linesCache = Mutex<[String: CachedLines]>([:])

    private struct FileIdentity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
    }

    private struct CachedFile: Sendable {
        var identity: FileIdentity
        var file: Result<ELFFile, ELFFile.ELFError>
    }

    private struct CachedLines: Sendable {
        var identity: FileIdentity
        /// Nil when the file has no DWARF of its own (or libdw is missing): not tried again.
        var lines: DWARFSourceLines?
    }

    /// - Parameters:
    ///   - dwarfLines: whether to read file, line and column (and inlined frames) from DWARF
    ///     through libdw. Where libdw is missing, frames keep what the rest gives them.
    ///   - symbolizerPath: `llvm-symbolizer` to use for file and line when `dwarfLines` is
    ///     false or libdw is missing; by default the one found by
    ///     ``LLVMSymbolizer/find(searchPath:)``. Nil disables it.
    ///   - symbolizerTimeout: the limit on one run of it.
    init(
        dwarfLines: Bool = false, symbolizerPath: String? = LLVMSymbolizer.find(),
        symbolizerTimeout: Duration = .seconds(5)
    ) {
        self.dwarfLines = dwarfLines && DWARFSourceLines.isAvailable
        self.symbolizerPath = self.dwarfLines ? nil : symbolizerPath
        self.symbolizerTimeout = symbolizerTimeout
        let size = sysconf(Int32(_SC_PAGESIZE))
        self.pageSize = size > 0 ? UInt64(size) : 4096
    }

    /// The process-wide instance: its cache of parsed ELF files describes files of this
    /// machine, so sharing it across reporters saves re-reading them. Tests make their own.
    static let shared = Symbolicator()

    /// Symbolicates `addresses` (the first the faulting instruction, the rest return
    /// addresses) against the maps text captured with them. Blocks; see the type's notes.
    ///
    /// - Parameter firstIsReturnAddress: true when every address is a return address (a
    ///   stack captured with `Thread.callStackReturnAddresses`), so the first is looked up
    ///   at `address - 1` too.
    func symbolicate(maps: String, addresses: [UInt64], firstIsReturnAddress: Bool = false) -> Output {
        symbolicate(maps: MemoryMaps(parsing: maps), addresses: addresses, firstIsReturnAddress: firstIsReturnAddress)
    }

    /// ``symbolicate(maps:addresses:firstIsReturnAddress:)`` returning a tuple.
    func symbolicate(
        addresses: [UInt64], maps: String,
        firstIsReturnAddress: Bool
    ) -> (frames: [StackFrame], images: [BinaryImage]) {
        let output = symbolicate(maps: maps, addresses: addresses, firstIsReturnAddress: firstIsReturnAddress)
        return (output.frames, output.images)
    }

    /// Runs ``symbolicate(maps:addresses:firstIsReturnAddress:)`` on a new thread, keeping the blocking work off
    /// the Swift concurrency pool.
    func symbolicateOnThread(maps: String, addresses: [UInt64], firstIsReturnAddress: Bool = false) async -> Output {
        await withCheckedContinuation { continuation in
            StewardThread.start(name: "steward.symbolicate") {
                continuation.resume(
                    returning: self.symbolicate(
                        maps: maps, addresses: addresses,
                        firstIsReturnAddress: firstIsReturnAddress))
            }
        }
    }

    /// Symbolicates against parsed maps.
    func symbolicate(maps: MemoryMaps, addresses: [UInt64], firstIsReturnAddress: Bool = false) -> Output {
        struct Pending {
            var frameIndex: Int
            var lookupAddress: UInt64
        }
        var frames: [StackFrame] = []
        frames.reserveCapacity(addresses.count)
        var usedImages: [String: (image: MemoryMaps.Image, file: ELFFile?)] = [:]
        var pendingLines: [String: [Pending]] = [:]

        for (index, address) in addresses.enumerated() {
            var frame = StackFrame(instructionAddress: address)
            guard let image = maps.image(containing: address) else {
                frames.append(frame)
                continue
            }
            let entry = usedImages[image.path] ?? (image, elfFile(for: image))
            usedImages[image.path] = entry
            frame.package = image.path
            frame.imageAddress = image.start
            if let file = entry.file, let bias = loadBias(image: image, file: file, address: address) {
                // Return addresses point after the call; look up the call itself.
                let runtime = (index == 0 && !firstIsReturnAddress) || address == 0 ? address : address - 1
                let lookup = runtime &- bias
                if let symbol = file.symbol(containing: lookup) {
                    frame.function = Demangler.demangle(symbol.name)
                    frame.symbolAddress = symbol.value &+ bias
                }
                if dwarfLines {
                    if let lines = sourceLines(for: image) {
                        frames += Symbolicator.expand(frame, lines.locations(at: lookup))
                        continue
                    }
                } else {
                    pendingLines[image.path, default: []].append(
                        Pending(frameIndex: frames.count, lookupAddress: lookup))
                }
            }
            frames.append(frame)
        }

        if let symbolizerPath {
            let symbolizer = LLVMSymbolizer(path: symbolizerPath, timeout: symbolizerTimeout)
            for (path, pending) in pendingLines {
                let locations = symbolizer.locations(object: path, addresses: pending.map(\.lookupAddress))
                for (item, location) in zip(pending, locations) {
                    guard let location else { continue }
                    frames[item.frameIndex].filename = location.file
                    frames[item.frameIndex].line = location.line
                }
            }
        }

        let images = usedImages.values.sorted { $0.image.start < $1.image.start }.map { entry in
            BinaryImage(
                path: entry.image.path, start: entry.image.start, end: entry.image.end,
                buildID: entry.file?.buildIDHex)
        }
        return Output(frames: frames, images: images)
    }

    /// `frame` (named from the symbol table) with DWARF's locations: a frame per inlined call
    /// (innermost first, named by DWARF, no symbol address), then `frame` with the position
    /// in the function itself. The symbol table's name is kept for that last frame; DWARF's
    /// is used only where the symbol table has none.
    static func expand(_ frame: StackFrame, _ locations: [DWARFSourceLines.Location]) -> [StackFrame] {
        guard !locations.isEmpty else { return [frame] }
        var result: [StackFrame] = []
        result.reserveCapacity(locations.count)
        for location in locations {
            var expanded = frame
            expanded.filename = location.file
            expanded.line = location.line
            expanded.column = location.column
            if location.inlined {
                expanded.function = location.function.map(Demangler.demangle)
                expanded.symbolAddress = nil
                expanded.isInlined = true
            } else if expanded.function == nil {
                expanded.function = location.function.map(Demangler.demangle)
            }
            result.append(expanded)
        }
        if result.last?.isInlined == true { result.append(frame) }
        return result
    }

    /// The load bias: runtime address minus ELF virtual address. From the image's base
    /// mapping (offset 0) and the `PT_LOAD` that covers file offset 0; failing that, from the
    /// mapping holding the address and its segment.
    func loadBias(image: MemoryMaps.Image, file: ELFFile, address: UInt64) -> UInt64? {
        var candidates = [image.loadMapping]
        if let holding = image.mappings.first(where: { $0.contains(address) }) { candidates.append(holding) }
        for mapping in candidates {
            if let segment = file.loadSegment(forMappingOffset: mapping.offset, pageSize: pageSize) {
                // The mapping maps file offset `mapping.offset` at `mapping.start`; the segment
                // maps `segment.offset` at `segment.vaddr`.
                return mapping.start &- mapping.offset &- segment.vaddr &+ segment.offset
            }
        }
        return nil
    }

    // MARK: - The ELF cache

    /// The parsed file for an image, when it can be trusted to be the one that was mapped.
    private func elfFile(for image: MemoryMaps.Image) -> ELFFile? {
        guard !image.deleted else { return nil }
        guard let identity = Symbolicator.identity(of: image.path) else { return nil }
        // The maps name the inode that was mapped; another inode means the file was replaced.
        // (Devices are not compared: overlay file systems report different ones in the maps.)
        let mappedInode = image.loadMapping.inode
        guard mappedInode == 0 || mappedInode == identity.inode else { return nil }
        return file(at: image.path, identity: identity)
    }

    /// The parsed file at `path`, from the cache while its identity is unchanged.
    func file(at path: String) -> ELFFile? {
        guard let identity = Symbolicator.identity(of: path) else { return nil }
        return file(at: path, identity: identity)
    }

    private func file(at path: String, identity: FileIdentity) -> ELFFile? {
        if let cached = cache.withLock({ $0[path] }), cached.identity == identity {
            return try? cached.file.get()
        }
        let parsed: Result<ELFFile, ELFFile.ELFError>
        do { parsed = .success(try ELFFile(path: path)) } catch { parsed = .failure(error) }
        cache.withLock { $0[path] = CachedFile(identity: identity, file: parsed) }
        return try? parsed.get()
    }

    /// Closes every libdw session: a session maps its file, and a file truncated in place
    /// while mapped would fault (SIGBUS) at the next read. Called when a batch of reports is
    /// done (``CrashReporter/processPending()``, the handled-error worker going idle), so sessions
    /// live for a batch, not for the process. A lookup still holding one finishes with it.
    func releaseSourceLines() {
        linesCache.withLock { $0.removeAll() }
    }

    /// How many libdw sessions are open in the cache (for the tests).
    var openSourceLinesCount: Int {
        linesCache.withLock { cache in cache.values.count { $0.lines != nil } }
    }

    /// The libdw session for an image's file, opened once per path while its identity holds;
    /// nil when the file was replaced since the crash, or has no DWARF.
    private func sourceLines(for image: MemoryMaps.Image) -> DWARFSourceLines? {
        guard !image.deleted, let identity = Symbolicator.identity(of: image.path) else { return nil }
        let mappedInode = image.loadMapping.inode
        guard mappedInode == 0 || mappedInode == identity.inode else { return nil }
        if let cached = linesCache.withLock({ $0[image.path] }), cached.identity == identity {
            return cached.lines
        }
        let lines = DWARFSourceLines(path: image.path)
        linesCache.withLock { $0[image.path] = CachedLines(identity: identity, lines: lines) }
        return lines
    }

    private static func identity(of path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return FileIdentity(
            device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
            modifiedSeconds: Int(st.st_mtim.tv_sec), modifiedNanoseconds: Int(st.st_mtim.tv_nsec))
    }
}
