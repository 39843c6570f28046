import Testing
import Foundation
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ProbeExit {
    @Test func probe() async throws {
        let dir = "/tmp/probe-x"
        let seed: UInt64 = 42
        let t0 = Date()
        await #expect(processExitsWith: .signal(SIGKILL)) { [dir, seed] in
            print("child", dir, seed)
            Thread.detachNewThread { usleep(5000); kill(getpid(), SIGKILL) }
            while true { usleep(100) }
        }
        print("elapsed", Date().timeIntervalSince(t0))
        await #expect(processExitsWith: .success) { [dir] in
            print("child2", dir)
        }
        print("elapsed2", Date().timeIntervalSince(t0))
    }
}
