#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Names of fatal signals and their `si_code` values, as Sentry and people read them.
enum SignalNames {
    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: "SIGSEGV"
        case SIGBUS: "SIGBUS"
        case SIGILL: "SIGILL"
        case SIGFPE: "SIGFPE"
        case SIGABRT: "SIGABRT"
        case SIGTRAP: "SIGTRAP"
        // The other signals that dump core (a core systemd-coredump kept names them).
        case SIGQUIT: "SIGQUIT"
        case SIGSYS: "SIGSYS"
        case SIGXCPU: "SIGXCPU"
        case SIGXFSZ: "SIGXFSZ"
        default: "signal \(signal)"
        }
    }

    /// What the signal means, in words.
    static func meaning(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: "Segmentation fault"
        case SIGBUS: "Bus error"
        case SIGILL: "Illegal instruction"
        case SIGFPE: "Floating-point exception"
        case SIGABRT: "Abort"
        case SIGTRAP: "Trace/breakpoint trap"
        default: "Signal \(signal)"
        }
    }

    /// Whether `si_addr` is meaningful for the signal.
    static func hasFaultAddress(_ signal: Int32) -> Bool {
        [SIGSEGV, SIGBUS, SIGILL, SIGFPE].contains(signal)
    }

    /// The name of `code` for `signal` (Linux values), nil when unknown.
    static func codeName(signal: Int32, code: Int32) -> String? {
        switch code {
        case 0: return "SI_USER"
        case -1: return "SI_QUEUE"
        case -6: return "SI_TKILL"
        case 0x80: return "SI_KERNEL"
        default: break
        }
        let table: [Int32: [Int32: String]] = [
            SIGSEGV: [1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR"],
            SIGBUS: [1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR", 4: "BUS_MCEERR_AR", 5: "BUS_MCEERR_AO"],
            SIGILL: [
                1: "ILL_ILLOPC", 2: "ILL_ILLOPN", 3: "ILL_ILLADR", 4: "ILL_ILLTRP", 5: "ILL_PRVOPC", 6: "ILL_PRVREG",
                7: "ILL_COPROC", 8: "ILL_BADSTK",
            ],
            SIGFPE: [
                1: "FPE_INTDIV", 2: "FPE_INTOVF", 3: "FPE_FLTDIV", 4: "FPE_FLTOVF", 5: "FPE_FLTUND", 6: "FPE_FLTRES",
                7: "FPE_FLTINV", 8: "FPE_FLTSUB",
            ],
            SIGTRAP: [1: "TRAP_BRKPT", 2: "TRAP_TRACE", 3: "TRAP_BRANCH", 4: "TRAP_HWBKPT"],
        ]
        return table[signal]?[code]
    }
}
