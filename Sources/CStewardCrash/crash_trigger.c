#include "CStewardCrashTrigger.h"

#include <signal.h>

int steward_crash_trigger_divide(int numerator, int denominator) {
    // volatile: the compiler must emit the division, not fold or drop it.
    volatile int n = numerator;
    volatile int d = denominator;
#if defined(__aarch64__)
    if (d == 0) {
        raise(SIGFPE);
    }
#endif
    return n / d;
}
