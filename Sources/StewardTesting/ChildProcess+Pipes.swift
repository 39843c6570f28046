public import StewardCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ChildProcess {
    /// The test's end of a pipe the child writes to (its standard output or standard error).
    ///
    /// Reads block the calling thread: run them on a thread of their own, not on the Swift
    /// concurrency pool, when the child may take long. The descriptor is close-on-exec, so no
    /// other child inherits it, and it is closed by ``close()`` or when the reader goes away.
    public final class Reader: Sendable {
        /// The descriptor; held while a read runs, so ``close()`` waits for it.
        private let descriptor: PipeDescriptor

        init(descriptor: Int32) {
            self.descriptor = PipeDescriptor(descriptor)
        }

        /// Reads until the child closes its end (it exited, or closed the stream).
        ///
        /// - Returns: Every byte read.
        /// - Throws: `SystemError` naming `read` when the read fails, or `EBADF` once closed.
        public func readToEnd() throws(SystemError) -> [UInt8] {
            var bytes: [UInt8] = []
            while true {
                let chunk = try read()
                if chunk.isEmpty { return bytes }
                bytes += chunk
            }
        }

        /// Waits until something can be read, then reads what is there: for line-by-line
        /// protocols (a daemon that prints its address once it listens).
        ///
        /// - Parameter maximumCount: At most this many bytes (at least 1).
        /// - Returns: The bytes read; empty only at end of file.
        /// - Throws: `SystemError` naming `read` when the read fails, or `EBADF` once closed.
        public func read(upTo maximumCount: Int = 65_536) throws(SystemError) -> [UInt8] {
            try descriptor.value.withLock { fd throws(SystemError) in
                try Self.read(fd, upTo: maximumCount)
            }
        }

        /// Like ``read(upTo:)``, but waits at most `timeout` (on the monotonic clock) for
        /// something to arrive.
        ///
        /// - Parameters:
        ///   - maximumCount: At most this many bytes (at least 1).
        ///   - timeout: How long to wait at most for the first byte.
        /// - Returns: The bytes read (empty only at end of file), or nil when nothing arrived
        ///   within `timeout`.
        /// - Throws: `SystemError` naming `poll` or `read` when they fail, or `EBADF` once closed.
        public func read(upTo maximumCount: Int = 65_536, timeout: Duration) throws(SystemError) -> [UInt8]? {
            try descriptor.value.withLock { fd throws(SystemError) -> [UInt8]? in
                guard fd >= 0 else { throw SystemError(call: "read", errno: EBADF) }
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let clock = ContinuousClock()
                let deadline = clock.now.advanced(by: timeout)
                while true {
                    let milliseconds = Int32(
                        clamping: (ChildProcess.nanoseconds(clock.now.duration(to: deadline)) + 999_999) / 1_000_000)
                    let ready = poll(&poller, 1, milliseconds)
                    if ready < 0 {
                        guard errno == EINTR else { throw SystemError(call: "poll", errno: errno) }
                        continue
                    }
                    if ready > 0 { return try Self.read(fd, upTo: maximumCount) }
                    if clock.now >= deadline { return nil }
                }
            }
        }

        /// Closes the test's end. Later reads throw `EBADF`; closing twice does nothing.
        public func close() {
            descriptor.close()
        }

        /// Reads `first` and `second` to their ends at once, with `poll`.
        static func readBothToEnd(_ first: Reader, _ second: Reader) throws(SystemError) -> ([UInt8], [UInt8]) {
            try first.descriptor.value.withLock { a throws(SystemError) in
                try second.descriptor.value.withLock { b throws(SystemError) in
                    guard a >= 0, b >= 0 else { throw SystemError(call: "read", errno: EBADF) }
                    var collected: [[UInt8]] = [[], []]
                    var open = [true, true]
                    while open[0] || open[1] {
                        var pollers = [a, b].map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                        for index in 0..<2 where !open[index] { pollers[index].fd = -1 }  // poll skips it
                        let ready = pollers.withUnsafeMutableBufferPointer { poll($0.baseAddress, 2, -1) }
                        if ready < 0 {
                            guard errno == EINTR else { throw SystemError(call: "poll", errno: errno) }
                            continue
                        }
                        for index in 0..<2 where open[index] && pollers[index].revents != 0 {
                            let chunk = try read(index == 0 ? a : b, upTo: 65_536)
                            if chunk.isEmpty { open[index] = false } else { collected[index] += chunk }
                        }
                    }
                    return (collected[0], collected[1])
                }
            }
        }

        /// One `read` of at most `maximumCount` bytes, retried on `EINTR`.
        private static func read(_ fd: Int32, upTo maximumCount: Int) throws(SystemError) -> [UInt8] {
            guard fd >= 0 else { throw SystemError(call: "read", errno: EBADF) }
            let capacity = max(1, maximumCount)
            var failure: Int32 = 0
            let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                while true {
                    let n = systemRead(fd, buffer.baseAddress, capacity)
                    if n >= 0 {
                        count = n
                        return
                    }
                    if errno != EINTR {
                        failure = errno
                        count = 0
                        return
                    }
                }
            }
            guard failure == 0 else { throw SystemError(call: "read", errno: failure) }
            return bytes
        }
    }

    /// The test's end of the pipe the child reads as its standard input.
    ///
    /// Write what the child should read, then ``close()``: the child sees end of file once
    /// this end is closed. The descriptor is close-on-exec, so no other child inherits it
    /// (another child holding it would keep the end of file from ever coming).
    public final class Writer: Sendable {
        /// The descriptor; held while a write runs, so ``close()`` waits for it.
        private let descriptor: PipeDescriptor

        init(descriptor: Int32) {
            self.descriptor = PipeDescriptor(descriptor)
        }

        /// Writes every byte of `bytes`, blocking while the pipe is full.
        ///
        /// A child that has closed its end (it exited) makes this throw `EPIPE`; the test
        /// process gets no `SIGPIPE`.
        ///
        /// - Parameter bytes: What the child reads next.
        /// - Throws: `SystemError` naming `write` (`EPIPE`: the child no longer reads; `EBADF`:
        ///   this end is closed).
        public func write(_ bytes: [UInt8]) throws(SystemError) {
            try descriptor.value.withLock { fd throws(SystemError) in
                guard fd >= 0 else { throw SystemError(call: "write", errno: EBADF) }
                let failure = withSIGPIPEHeld {
                    bytes.withUnsafeBytes { buffer -> Int32 in
                        var done = 0
                        while done < buffer.count {
                            let n = systemWrite(fd, buffer.baseAddress.map { $0 + done }, buffer.count - done)
                            if n < 0 {
                                if errno == EINTR { continue }
                                return errno
                            }
                            done += n
                        }
                        return 0
                    }
                }
                guard failure == 0 else { throw SystemError(call: "write", errno: failure) }
            }
        }

        /// Writes `text` as UTF-8, as the bytes are written.
        ///
        /// - Parameter text: What the child reads next.
        /// - Throws: `SystemError` naming `write`.
        public func write(_ text: String) throws(SystemError) {
            try write(Array(text.utf8))
        }

        /// Closes the test's end: the child reads end of file. Closing twice does nothing.
        public func close() {
            descriptor.close()
        }

        /// Runs `body` with `SIGPIPE` blocked on this thread, and takes back a `SIGPIPE` the
        /// body's failed write raised, so a child that stopped reading fails the write with
        /// `EPIPE` instead of ending the test process. Returns what `body` returned (an errno).
        private func withSIGPIPEHeld(_ body: () -> Int32) -> Int32 {
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            var previous = sigset_t()
            pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
            defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
            var pending = sigset_t()
            sigpending(&pending)
            let wasPending = sigismember(&pending, SIGPIPE) == 1
            let failure = body()
            if failure == EPIPE && !wasPending {
                var noWait = timespec()
                while sigtimedwait(&pipeSignal, nil, &noWait) < 0 && errno == EINTR {}
            }
            return failure
        }
    }
}

/// A pipe end the test process owns, closed by ``close()`` or when its owner goes away.
final class PipeDescriptor: Sendable {
    /// The descriptor, -1 once closed. A reader or writer holds the lock while it uses it.
    let value: Mutex<Int32>

    init(_ descriptor: Int32) {
        value = Mutex(descriptor)
    }

    deinit {
        let fd = value.withLock { $0 }
        if fd >= 0 { _ = systemClose(fd) }
    }

    /// Closes the descriptor; closing twice does nothing.
    func close() {
        value.withLock { fd in
            if fd >= 0 { _ = systemClose(fd) }
            fd = -1
        }
    }
}

// libc's close, read and write under names the methods called `close` and `read` cannot shadow.
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
