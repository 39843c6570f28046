// Replaces the malloc family of the test binary (it is linked into the one test executable,
// whose symbols win over libc's) with thin forwards to glibc's __libc_* entry points. While
// the calling thread is inside the crash handler, each allocation is counted and a line goes
// to fd 2, so an exit test's parent can see it in the child's stderr.
//
// Everything here runs on every allocation of the test process: no allocation, no lock, no
// stdio, and errno is left as glibc set it.
#define _GNU_SOURCE
#include "CStewardMallocProbe.h"

// AddressSanitizer and ThreadSanitizer bring their own allocator, which must see every
// allocation: under them the probe replaces nothing and says it is unavailable.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define STEWARD_MALLOC_PROBE_OFF 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STEWARD_MALLOC_PROBE_OFF 1
#endif

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_memalign(size_t alignment, size_t size);

// CStewardCrash is linked into the same binary, but this target does not depend on it.
extern int steward_crash_handler_active(void) __attribute__((weak));

static _Atomic uint64_t count_in_handler;

static void note_allocation(void) {
    if (steward_crash_handler_active == NULL || !steward_crash_handler_active()) return;
    atomic_fetch_add_explicit(&count_in_handler, 1, memory_order_relaxed);
    static const char line[] = "steward-malloc-probe: allocation inside the crash handler\n";
    int saved = errno;
    ssize_t ignored = write(2, line, sizeof line - 1);
    (void)ignored;
    errno = saved;
}

uint64_t steward_malloc_probe_count_in_handler(void) {
    return atomic_load_explicit(&count_in_handler, memory_order_relaxed);
}

void steward_malloc_probe_reset(void) { atomic_store_explicit(&count_in_handler, 0, memory_order_relaxed); }

#ifdef STEWARD_MALLOC_PROBE_OFF

int steward_malloc_probe_available(void) { return 0; }

#else

int steward_malloc_probe_available(void) { return 1; }

void *malloc(size_t size) {
    note_allocation();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    note_allocation();
    return __libc_calloc(count, size);  // checks count * size for overflow
}

void *realloc(void *pointer, size_t size) {
    note_allocation();
    return __libc_realloc(pointer, size);  // realloc(NULL, n) is malloc(n)
}

void free(void *pointer) {
    if (pointer != NULL) __libc_free(pointer);
}

static int is_power_of_two(size_t value) { return value != 0 && (value & (value - 1)) == 0; }

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (!is_power_of_two(alignment) || alignment % sizeof(void *) != 0) return EINVAL;
    note_allocation();
    int saved = errno;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) {
        errno = saved;
        return ENOMEM;
    }
    *out = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    if (!is_power_of_two(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    note_allocation();
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    note_allocation();
    return __libc_memalign(alignment, size);
}

static size_t page_size(void) {
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096;
}

void *valloc(size_t size) {
    note_allocation();
    return __libc_memalign(page_size(), size);
}

void *pvalloc(size_t size) {
    note_allocation();
    size_t page = page_size();
    size_t rounded = (size + page - 1) & ~(page - 1);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    if (rounded == 0) rounded = page;
    return __libc_memalign(page, rounded);
}

#endif  // STEWARD_MALLOC_PROBE_OFF
