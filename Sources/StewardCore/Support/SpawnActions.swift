#if canImport(Glibc)
package import Glibc
#elseif canImport(Musl)
package import Musl
#endif

/// What `posix_spawn` file actions need beyond what the Glibc module exports. Package access:
/// StewardCrash (llvm-symbolizer) and StewardTesting (`ChildProcess`) spawn with it.
package enum SpawnActions {
    /// Adds "close every descriptor from `lowest` up" to `actions`
    /// (`posix_spawn_file_actions_addclosefrom_np`, glibc 2.34, declared under `_GNU_SOURCE`
    /// only, so looked up once with `dlsym`).
    ///
    /// - Returns: Whether the action was added: false where the C library lacks the call; then
    ///   only the spawning process's close-on-exec descriptors stay out of the child.
    @discardableResult
    package static func closeDescriptors(from lowest: Int32, in actions: inout posix_spawn_file_actions_t) -> Bool {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = UnsafeRawPointer(bitPattern: closeFromAddress) else { return false }
        return unsafeBitCast(symbol, to: CloseFrom.self)(&actions, lowest) == 0
    }

    /// The address of `posix_spawn_file_actions_addclosefrom_np` (0: none).
    private static let closeFromAddress = UInt(bitPattern: dlsym(nil, "posix_spawn_file_actions_addclosefrom_np"))
}
