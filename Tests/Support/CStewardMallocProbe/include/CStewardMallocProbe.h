// Test support: the test binary's malloc family, forwarded to glibc and counted while the
// calling thread is inside Steward's crash handler.
#ifndef STEWARD_MALLOC_PROBE_H
#define STEWARD_MALLOC_PROBE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Allocations (malloc, calloc, realloc, the aligned variants) made by a thread while it was
/// inside the crash handler, since the start or the last reset.
uint64_t steward_malloc_probe_count_in_handler(void);

/// Sets the count back to zero.
void steward_malloc_probe_reset(void);

/// 1 when the probe replaces the malloc family; 0 in a build with AddressSanitizer or
/// ThreadSanitizer, whose allocator must see every allocation (the probe then counts nothing).
int steward_malloc_probe_available(void);

/// Also test support: sets libswift_Concurrency's global executor hook to one of "someone
/// else's" that passes every job on to the runtime (and counts it). 0, or -1 without the hook.
int steward_test_set_foreign_enqueue_hook(void);

/// The jobs that foreign hook passed on.
uint64_t steward_test_foreign_hook_jobs(void);

#ifdef __cplusplus
}
#endif

#endif
