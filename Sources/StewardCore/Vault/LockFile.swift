#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An exclusive `flock` on the vault's lock file, held for the vault's life.
final class LockFile {
    private let fd: FileDescriptor

    init(path: String) throws {
        let fd = try FileDescriptor.open(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        if flock(fd.raw, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EWOULDBLOCK {
                let owner = (try? fd.readAll(limit: 64)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                if owner == String(getpid()) {
                    throw VaultError(
                        .locked,
                        "this process already has the vault open in another Vault instance; share that instance or close it first",
                        path: path)
                }
                throw VaultError(
                    .locked,
                    "the vault is open in another process\(owner.isEmpty ? "" : " (pid \(owner))"); close it there first",
                    path: path)
            }
            throw VaultError(
                .io, "cannot lock the vault", path: path,
                underlying: SystemError(call: "flock", path: path, errno: code))
        }
        // Truncated only when the last owner's pid was longer: a truncation is a metadata
        // write, and most launches find a pid of the same length.
        let pid = Array(String(getpid()).utf8)
        if let size = try? fd.stat().st_size, size <= off_t(pid.count) {
            try fd.write(pid, at: 0)  // the file is pid.count bytes long from here on
        } else {
            try fd.truncate(to: 0)
            try fd.write(pid, at: 0)
        }
        self.fd = fd
    }

    deinit {
        // Unlock explicitly: a forked child holding a copy of the descriptor would otherwise
        // keep the lock after this process closes its own.
        _ = flock(fd.raw, LOCK_UN)
    }
}
