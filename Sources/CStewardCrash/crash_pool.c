// Opt-in: the Swift concurrency pool's jobs run through a function that gives the worker thread
// its alternate signal stack first, so a stack overflow in a task is recorded too.
//
// libswift_Concurrency exports `swift_task_enqueueGlobal_hook`: when set, every job the runtime
// enqueues on the global concurrent executor (a task's start, its resumption after an await) is
// handed to the hook with the runtime's own enqueue function. The hook here enqueues the job on
// the libdispatch global queue of the job's priority, as the runtime does, with a function that
// prepares the thread (one thread-local load once prepared) and then runs the job with
// `swift_job_run` on the generic executor, which is what the runtime's own dispatch function
// calls. Everything is looked up with dlsym: a runtime without the hook is refused, not linked.
#define _GNU_SOURCE
#include "crash_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

typedef __attribute__((swiftcall)) void (*enqueue_original_t)(void *job);
typedef __attribute__((swiftcall)) void (*enqueue_hook_t)(void *job, enqueue_original_t original);
/// `swift_job_run(Job *, SerialExecutorRef)`: the executor reference is two words (identity,
/// implementation), passed as two integer arguments by the Swift calling convention.
typedef __attribute__((swiftcall)) void (*job_run_t)(void *job, void *identity, uintptr_t implementation);
typedef void *(*get_global_queue_t)(intptr_t identifier, uintptr_t flags);
typedef void (*async_f_t)(void *queue, void *context, void (*work)(void *));

/// The job's flags follow the heap object header (metadata, reference counts) and the two
/// words the scheduler owns (swift/ABI/Task.h); the priority is bits 8–15 of the flags, and
/// its values are the dispatch QoS classes (JobPriority's raw values).
#define JOB_FLAGS_OFFSET (4 * sizeof(void *))

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(enqueue_hook_t) *hook_slot;
static job_run_t job_run;
static get_global_queue_t get_global_queue;
static async_f_t async_f;
static _Atomic uint64_t routed;

static void run_prepared(void *job) {
    (void)steward_crash_prepare_thread();  // no stack (ENOMEM): the job runs all the same
    job_run(job, NULL, 0);
}

static __attribute__((swiftcall)) void route(void *job, enqueue_original_t original) {
    uint32_t flags;
    memcpy(&flags, (const char *)job + JOB_FLAGS_OFFSET, sizeof flags);
    void *queue = get_global_queue((intptr_t)((flags >> 8) & 0xFF), 0);
    if (queue == NULL) {  // a priority libdispatch does not know: the runtime's own path
        original(job);
        return;
    }
    atomic_fetch_add_explicit(&routed, 1, memory_order_relaxed);
    async_f(queue, job, run_prepared);
}

int steward_crash_prepare_concurrency_threads(int enable) {
    pthread_mutex_lock(&pool_lock);
    if (hook_slot == NULL) {
        hook_slot = dlsym(RTLD_DEFAULT, "swift_task_enqueueGlobal_hook");
        job_run = (job_run_t)dlsym(RTLD_DEFAULT, "swift_job_run");
        get_global_queue = (get_global_queue_t)dlsym(RTLD_DEFAULT, "dispatch_get_global_queue");
        async_f = (async_f_t)dlsym(RTLD_DEFAULT, "dispatch_async_f");
        if (hook_slot == NULL || job_run == NULL || get_global_queue == NULL || async_f == NULL) {
            hook_slot = NULL;
            pthread_mutex_unlock(&pool_lock);
            return ENOSYS;
        }
    }
    int result = 0;
    enqueue_hook_t current = atomic_load(hook_slot);
    if (enable) {
        // Someone else's hook (a custom global executor) stays: routing around it would
        // bypass their executor.
        if (current != NULL && current != route) result = EBUSY;
        else atomic_store(hook_slot, route);
    } else if (current == route) {
        atomic_store(hook_slot, NULL);
    }
    pthread_mutex_unlock(&pool_lock);
    return result;
}

uint64_t steward_crash_concurrency_jobs_routed(void) { return atomic_load_explicit(&routed, memory_order_relaxed); }
