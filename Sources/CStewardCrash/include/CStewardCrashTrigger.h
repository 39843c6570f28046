// Deliberate faults, for testing the crash pipeline end to end (`steward crash trigger fpe`).
#ifndef STEWARD_CRASH_TRIGGER_H
#define STEWARD_CRASH_TRIGGER_H

#ifdef __cplusplus
extern "C" {
#endif

/// Divides `numerator` by `denominator` with the machine's integer division and no check:
/// a denominator of 0 raises SIGFPE (FPE_INTDIV) on x86_64. On aarch64, where integer
/// division by zero does not trap, it raises SIGFPE itself.
int steward_crash_trigger_divide(int numerator, int denominator);

#ifdef __cplusplus
}
#endif

#endif
