import CStewardCrash
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Real faults on demand, to test the crash pipeline end to end — the way Sentry's SDKs offer
/// `crash()`. Never call these outside a test or a demo.
public enum CrashTrigger {
    /// Integer division by zero in machine code: SIGFPE (FPE_INTDIV). Where the CPU does not
    /// trap and SIGFPE is ignored or blocked, the process aborts (SIGABRT) instead.
    public static func divisionByZero() -> Never {
        _ = steward_crash_trigger_divide(1, zero())
        // Reached only where division by zero does not trap and raise(SIGFPE) returned (the
        // signal ignored or blocked): the caller asked for the process to die, so it does,
        // the plain C way rather than through a Swift trap.
        abort()
    }

    @inline(never) private static func zero() -> Int32 { Int32(truncatingIfNeeded: CommandLine.argc) &* 0 }
}
