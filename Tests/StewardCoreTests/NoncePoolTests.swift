import Testing
@testable import StewardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@Suite struct NoncePoolTests {
    @Test func noncesStayUniqueAcrossManyRefillsOfThePool() throws {
        let cipher = try AESGCM.Cipher(key: SymmetricKey.random())
        var seen = Set<[UInt8]>()
        for _ in 0..<2_000 {  // about 24 refills of the 85-nonce pool
            seen.insert(try cipher.seal([], authenticating: []).nonce)
        }
        #expect(seen.count == 2_000)
    }

    /// A forked child must not reuse the nonces its parent had drawn but not yet used: the two
    /// would then seal different messages under one key and nonce.
    @Test func aForkedChildDoesNotReuseItsParentsPooledNonces() async {
        // Run in a fresh process (an exit test) so the fork happens with no other test's
        // threads holding locks.
        await #expect(processExitsWith: .success) {
            guard let cipher = try? AESGCM.Cipher(key: SymmetricKey.random()),
                (try? cipher.seal([1], authenticating: [])) != nil
            else { exit(2) }
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { exit(3) }
            let pid = fork()
            if pid == 0 {
                let nonce = (try? cipher.seal([2], authenticating: []).nonce) ?? []
                _ = nonce.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
                _exit(0)
            }
            guard pid > 0 else { exit(4) }
            let parentNonce = (try? cipher.seal([3], authenticating: []).nonce) ?? []
            var childNonce = [UInt8](repeating: 0, count: 12)
            let n = childNonce.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, 12) }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exit(n == 12 && parentNonce.count == 12 && childNonce != parentNonce ? 0 : 1)
        }
    }
}
