// For `make test-tsan` only: scripts/test-sanitizer.sh compiles this file and links it into the
// sanitized test binary and executables. Nothing in the package uses it.
//
// ThreadSanitizer cannot see Synchronization.Mutex synchronise on Linux when the lock is
// contended: the fast paths are atomics inlined into instrumented code, but the slow paths run in
// the uninstrumented libswiftSynchronization.so and the futex syscall. It then reports races
// between critical sections of one lock, every Mutex in the SDK included (checked with a
// four-thread counter under one Mutex: three "Swift access race" reports, none with this file).
// These wrappers take the slow paths' symbols, call the library's functions, and tell TSan what
// happened: an acquire after a slow lock, a release before a slow unlock. `self` (the
// `_MutexHandle`, whose only field is the futex word) arrives in the swiftself register.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

typedef __attribute__((swiftcall)) void (*lock_slow_fn)(uint32_t, __attribute__((swift_context)) void *);
typedef __attribute__((swiftcall)) bool (*try_lock_slow_fn)(__attribute__((swift_context)) void *);
typedef __attribute__((swiftcall)) void (*unlock_slow_fn)(__attribute__((swift_context)) void *);

static lock_slow_fn real_lock_slow;
static try_lock_slow_fn real_try_lock_slow;
static unlock_slow_fn real_unlock_slow;

// Resolved once, before main and before any thread exists.
__attribute__((constructor)) static void steward_tsan_resolve(void) {
    real_lock_slow = (lock_slow_fn)dlsym(RTLD_NEXT, LOCK_SLOW);
    real_try_lock_slow = (try_lock_slow_fn)dlsym(RTLD_NEXT, TRY_LOCK_SLOW);
    real_unlock_slow = (unlock_slow_fn)dlsym(RTLD_NEXT, UNLOCK_SLOW);
    if (!real_lock_slow || !real_try_lock_slow || !real_unlock_slow) {
        fputs("tsan_mutex_shim: libswiftSynchronization's Mutex slow paths not found\n", stderr);
        abort();
    }
}

__attribute__((swiftcall)) void steward_tsan_lock_slow(uint32_t self_id, __attribute__((swift_context)) void *handle) __asm__(LOCK_SLOW);
__attribute__((swiftcall)) void steward_tsan_lock_slow(uint32_t self_id, __attribute__((swift_context)) void *handle) {
    real_lock_slow(self_id, handle);
    __tsan_acquire(handle);
}

__attribute__((swiftcall)) bool steward_tsan_try_lock_slow(__attribute__((swift_context)) void *handle) __asm__(TRY_LOCK_SLOW);
__attribute__((swiftcall)) bool steward_tsan_try_lock_slow(__attribute__((swift_context)) void *handle) {
    bool locked = real_try_lock_slow(handle);
    if (locked) __tsan_acquire(handle);
    return locked;
}

__attribute__((swiftcall)) void steward_tsan_unlock_slow(__attribute__((swift_context)) void *handle) __asm__(UNLOCK_SLOW);
__attribute__((swiftcall)) void steward_tsan_unlock_slow(__attribute__((swift_context)) void *handle) {
    __tsan_release(handle);
    real_unlock_slow(handle);
}
