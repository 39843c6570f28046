// Steward runs on Linux only (libudev, /proc, /sys, POSIX signal handling, the system's OpenSSL
// and libcurl). On any other system the build stops here, with this reason, rather than at the
// first missing Linux interface.
#if !os(Linux)
#error("Steward supports Linux only (glibc; musl prepared). See Package.swift.")
#endif
