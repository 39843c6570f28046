import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts the threads Steward's modules run blocking work on (udev, prompts, fsync, symbolication),
/// and prepares each for the crash handler: once a crash reporter is installed, every such
/// thread gets its own alternate signal stack first, so a stack overflow on it is reported too.
/// Package access: modules share it; hosts use `CrashReporter.prepareCurrentThread()`.
package enum StewardThread {
    /// Run first on every thread Steward starts (set by the crash module while installed).
    private static let preparation = Mutex<(@Sendable () -> Void)?>(nil)

    /// Sets or clears what runs first on every new thread.
    package static func setPreparation(_ body: (@Sendable () -> Void)?) {
        preparation.withLock { $0 = body }
    }

    /// Runs the preparation on the calling thread, if one is set: for threads that outlive
    /// the reporter that was installed when they started, or that started before it
    /// (``ReusableThreads`` calls it before each job; preparing a thread twice does nothing).
    package static func prepareCurrentThread() {
        preparation.withLock { $0 }?()
    }

    /// Gives the calling thread its OS name (`pthread_setname_np`; at most 15 bytes, cut at a
    /// character boundary), which crash records and /proc show. Foundation's `Thread.name` does
    /// not do it reliably on Linux: set before `start()`, the thread kept its creator's name (a
    /// crash record of a Steward thread named the libdispatch thread that started it); set on
    /// the running thread, it raced with `start()`. Does nothing where the symbol is missing.
    package static func nameCurrentThread(_ name: String) {
        typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32
        guard let symbol = UnsafeRawPointer(bitPattern: setNameAddress) else { return }
        var bytes: [CChar] = []
        for scalar in name.unicodeScalars {
            let encoded = String(scalar).utf8
            guard bytes.count + encoded.count <= 15 else { break }
            bytes += encoded.map { CChar(bitPattern: $0) }
        }
        bytes.append(0)
        _ = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { unsafeBitCast(symbol, to: SetName.self)(pthread_self(), $0) }
        }
    }

    /// The address of `pthread_setname_np`, which the Glibc module does not export (0: none).
    private static let setNameAddress = UInt(bitPattern: dlsym(nil, "pthread_setname_np"))

    /// Starts a thread named `name` running `body`.
    package static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let prepare = preparation.withLock { $0 }
        let thread = Thread {
            prepare?()
            nameCurrentThread(name)
            body()
        }
        thread.name = name
        thread.start()
    }
}
