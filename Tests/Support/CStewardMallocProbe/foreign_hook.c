// Test support: a global executor hook of someone else's (a custom executor library, say) that
// passes every job on to the runtime, for the tests that Steward leaves such a hook in place.
#include "CStewardMallocProbe.h"

#include <dlfcn.h>
#include <stdatomic.h>

typedef __attribute__((swiftcall)) void (*enqueue_original_t)(void *job);

static _Atomic uint64_t passed;

static __attribute__((swiftcall)) void pass_on(void *job, enqueue_original_t original) {
    atomic_fetch_add(&passed, 1);
    original(job);
}

int steward_test_set_foreign_enqueue_hook(void) {
    void **slot = dlsym(RTLD_DEFAULT, "swift_task_enqueueGlobal_hook");
    if (slot == NULL) return -1;
    *slot = (void *)pass_on;
    return 0;
}

uint64_t steward_test_foreign_hook_jobs(void) { return atomic_load(&passed); }
