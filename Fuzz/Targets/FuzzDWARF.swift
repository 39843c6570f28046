import Foundation
@testable import StewardCrash

/// An ELF file's DWARF as the next launch reads source lines from it: elfutils' libdw, loaded
/// by the `CStewardDwarf` shim, then the shim's own walk of compile units, line tables and
/// inlined scopes, then ``DWARFSourceLines``' checks of what comes back. The parsing is
/// libdw's, not Steward's: the target shows what a hostile image does to it and to the shim.
///
/// Input: the file's bytes, written to a scratch file (libdw reads files). Checks: nothing
/// traps; an address gives at most ``DWARFSourceLines/maximumFrames`` frames; lines and columns
/// are positive and fit 32 bits; names and paths are at most
/// ``DWARFSourceLines/maximumStringBytes`` bytes; only frames before the last are inlined.
/// Without libdw on the machine the target checks nothing.
public enum FuzzDWARF: FuzzTarget {
    public static let name = "FuzzDWARF"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        // A file per input: the replay tests run inputs in parallel.
        let path = NSTemporaryDirectory() + "/steward-fuzz-dwarf-\(UUID().uuidString).elf"
        guard DWARFSourceLines.isAvailable, FileManager.default.createFile(atPath: path, contents: Data(input))
        else { return }
        defer { unlink(path) }
        guard let lines = DWARFSourceLines(path: path) else { return }
        var probes: [UInt64] = [0, 1, 0x1000, .max, .max - 1]
        if let file = try? ELFFile(bytes: input) {
            for symbol in file.symbols.prefix(32) {
                probes += [symbol.value, symbol.value &+ symbol.size / 2, symbol.value &+ 1]
            }
        }
        for address in probes {
            let locations = lines.locations(at: address)
            try require(
                locations.count <= DWARFSourceLines.maximumFrames, "\(locations.count) frames for \(address)")
            for (index, location) in locations.enumerated() {
                for value in [location.line, location.column].compactMap({ $0 }) {
                    try require(value > 0 && value <= Int(Int32.max), "line or column \(value) at \(address)")
                }
                for text in [location.function, location.file].compactMap({ $0 }) {
                    try require(
                        text.utf8.count <= DWARFSourceLines.maximumStringBytes * 3,
                        "a name of \(text.utf8.count) bytes at \(address)")
                }
                try require(!location.inlined || index < locations.count - 1, "the outermost frame is inlined")
            }
        }
    }
}
