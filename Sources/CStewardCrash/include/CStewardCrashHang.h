// The hang sampler: another thread's stack, taken by that thread in a signal handler (see
// crash_hang.c and Documentation/Crash.md, "Hangs"). Called by the hang watchdog only.
#ifndef STEWARD_CRASH_HANG_H
#define STEWARD_CRASH_HANG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The most frames one sample holds.
#define STEWARD_CRASH_HANG_FRAMES_MAX 128

/// Installs the sampler's handler (SA_SIGINFO | SA_RESTART | SA_ONSTACK) on a realtime signal
/// nobody handles (chosen from SIGRTMAX-4 down to SIGRTMIN+4), if not installed yet; with
/// `profiling` also on SIGPROF when nobody handles it (for libdispatch's workers, which block
/// every other asynchronous signal), and without it gives SIGPROF back. Returns 0, or EAGAIN
/// when every candidate realtime signal is taken.
int steward_crash_hang_install(int profiling);

/// Gives both signals back (the previous dispositions; a late request still pending on a
/// thread that blocks the signal is discarded first).
void steward_crash_hang_uninstall(void);

/// Unblocks the realtime signal on the calling thread (a thread started from a libdispatch
/// worker inherits its mask, which blocks it). Returns 0 or an errno value.
int steward_crash_hang_prepare_thread(void);

/// The signal in use: the realtime one, or with `profiling` SIGPROF; 0 when not installed.
int steward_crash_hang_signal(int profiling);

/// Asks thread `tid` of this process for its stack (with the realtime signal, or SIGPROF with
/// `profiling`) and waits at most `timeout_ms` for the answer: the interrupted instruction,
/// the return addresses found by scanning the top of the stack (at most 8), then those found by
/// the frame pointers, into `out`. Returns the count, or
/// -ETIMEDOUT (no answer: the thread blocks the signal, or is in uninterruptible sleep),
/// -ESRCH (no such thread), -ENOSYS (not installed), -EBUSY (another handler took the signal),
/// -EDEADLK (the calling thread itself), -EINVAL. One call at a time: callers serialise.
int steward_crash_hang_sample(int64_t tid, int profiling, uint64_t *out, int capacity, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
