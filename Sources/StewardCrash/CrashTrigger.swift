import CStewardCrash

/// Real faults on demand, to test the crash pipeline end to end — the way Sentry's SDKs offer
/// `crash()`. Never call these outside a test or a demo.
public enum CrashTrigger {
    /// Integer division by zero in machine code: SIGFPE (FPE_INTDIV).
    public static func divisionByZero() -> Never {
        _ = steward_crash_trigger_divide(1, zero())
        // Reached only where division by zero does not trap and raise() returned.
        fatalError("integer division by zero did not trap")
    }

    @inline(never) private static func zero() -> Int32 { Int32(truncatingIfNeeded: CommandLine.argc) &* 0 }
}
