// Installation, the signal handler itself, chaining to the previous handlers, and the
// alternate signal stacks.
#define _GNU_SOURCE
#include "crash_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <unwind.h>

const int steward_crash_signals[STEWARD_CRASH_SIGNAL_COUNT] = {
    SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP,
};

int steward_crash_dirfd = -1;
int64_t steward_crash_install_realtime_ns;
int64_t steward_crash_install_monotonic_ns;
_Atomic int steward_crash_active_tid;
_Atomic int steward_crash_allocate_in_handler;

static _Atomic int installed;
static struct sigaction previous[STEWARD_CRASH_SIGNAL_COUNT];
/// The tid of the thread that owns the handler (0: none). Stays set once a crash is handled:
/// other threads that crash meanwhile wait for it, then chain without writing a record.
static _Atomic int owner_tid;
static _Atomic int recording;
/// The signal the owning thread is handling (for a crash inside the handler).
static volatile sig_atomic_t owner_signal;
/// Serialises install and uninstall (never taken by the handler).
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;

int64_t steward_crash_clock_ns(int clock) {
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

pid_t steward_crash_gettid(void) { return (pid_t)syscall(SYS_gettid); }

// MARK: - Alternate stacks

static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;
static _Thread_local int thread_prepared;

typedef struct { void *base; size_t size; } altstack_t;

/// At a prepared thread's exit: disable its alternate stack, then unmap it.
static void release_altstack(void *value) {
    altstack_t *stack = value;
    if (stack == NULL) return;
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && current.ss_sp == (char *)stack->base + (size_t)sysconf(_SC_PAGESIZE)) {
        stack_t disable = { .ss_flags = SS_DISABLE };
        sigaltstack(&disable, NULL);
        munmap(stack->base, stack->size);
    }
    free(stack);
}

static void make_altstack_key(void) { pthread_key_create(&altstack_key, release_altstack); }

/// mmap's an alternate stack with a guard page below it and makes it this thread's.
static int give_thread_altstack(int keep_at_exit) {
    if (thread_prepared) return 0;
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0 &&
        current.ss_size >= STEWARD_CRASH_ALTSTACK_SIZE) {
        thread_prepared = 1;  // someone (the Swift runtime, the app) gave it one big enough
        return 0;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = STEWARD_CRASH_ALTSTACK_SIZE + page;
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return errno;
    if (mprotect(base, page, PROT_NONE) != 0) {
        int error = errno;
        munmap(base, size);
        return error;
    }
    stack_t stack = { .ss_sp = (char *)base + page, .ss_size = STEWARD_CRASH_ALTSTACK_SIZE, .ss_flags = 0 };
    if (sigaltstack(&stack, NULL) != 0) {
        int error = errno;
        munmap(base, size);
        return error;
    }
    if (!keep_at_exit) {
        pthread_once(&altstack_once, make_altstack_key);
        altstack_t *record = malloc(sizeof *record);
        if (record != NULL) {
            record->base = base;
            record->size = size;
            pthread_setspecific(altstack_key, record);
        }
    }
    thread_prepared = 1;
    return 0;
}

int steward_crash_prepare_thread(void) { return give_thread_altstack(0); }

int steward_crash_thread_prepared(void) {
    stack_t current;
    return sigaltstack(NULL, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0 &&
           current.ss_size >= STEWARD_CRASH_ALTSTACK_SIZE;
}

// MARK: - Chaining

/// Calls the handler that was there before ours, then makes sure the process dies of `signal`.
static void chain_and_die(int signal, siginfo_t *info, void *uc, int index) {
    atomic_store_explicit(&steward_crash_active_tid, 0, memory_order_release);
    // Put every previous handler back first: if the previous handler crashes or aborts, that
    // is its business, not a nested crash of ours.
    for (int i = 0; i < STEWARD_CRASH_SIGNAL_COUNT; i++) sigaction(steward_crash_signals[i], &previous[i], NULL);
    if (index >= 0) {
        struct sigaction old = previous[index];
        if ((old.sa_flags & SA_SIGINFO) != 0 && old.sa_sigaction != NULL) {
            old.sa_sigaction(signal, info, uc);
        } else if ((old.sa_flags & SA_SIGINFO) == 0 && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
            old.sa_handler(signal);
        }
    }
    // Whatever the previous handler did, die of the original signal.
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    sigaction(signal, &fallback, NULL);
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, signal);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);

    int fault = info != NULL && info->si_code > 0 && signal != SIGTRAP && signal != SIGABRT;
    if (fault) {
        // Returning re-executes the faulting instruction, which now kills the process with
        // the default action (and a core dump showing the real fault). The kernel forces a
        // fault's signal even on PID 1, once its action is the default one.
        return;
    }
    if (getpid() == 1) {
        // PID 1 (in a container) does not die of a default-action signal it sends itself
        // (abort, raise): raise once for the record, then exit with the shell's convention.
        syscall(SYS_tgkill, getpid(), steward_crash_gettid(), signal);
        _exit(128 + signal);
    }
    // abort, raise, kill, int3: the signal will not come back by itself.
    syscall(SYS_tgkill, getpid(), steward_crash_gettid(), signal);
    _exit(128 + signal);
}

static int signal_index(int signal) {
    for (int i = 0; i < STEWARD_CRASH_SIGNAL_COUNT; i++) {
        if (steward_crash_signals[i] == signal) return i;
    }
    return -1;
}

static void handle_signal(int signal, siginfo_t *info, void *uc) {
    int64_t entry_ns = steward_crash_clock_ns(CLOCK_MONOTONIC);
    int saved_errno = errno;
    pid_t tid = steward_crash_gettid();
    int expected = 0;
    if (!atomic_compare_exchange_strong(&owner_tid, &expected, (int)tid)) {
        if (expected == (int)tid) {
            // The handler itself crashed on this thread: a minimal record, once (a crash while
            // writing that one gives up on it), then die of the signal the app crashed with —
            // not chaining: the state the handlers would run in is already broken.
            static _Atomic int nested;
            if (atomic_exchange(&nested, 1) == 0) steward_crash_write_nested_record(signal, info);
            int original = owner_signal != 0 ? (int)owner_signal : signal;
            struct sigaction fallback;
            memset(&fallback, 0, sizeof fallback);
            fallback.sa_handler = SIG_DFL;
            sigemptyset(&fallback.sa_mask);
            sigaction(original, &fallback, NULL);
            sigaction(signal, &fallback, NULL);
            sigset_t unblock;
            sigemptyset(&unblock);
            sigaddset(&unblock, original);
            sigaddset(&unblock, signal);
            sigprocmask(SIG_UNBLOCK, &unblock, NULL);
            syscall(SYS_tgkill, getpid(), tid, original);
            _exit(128 + original);
        }
        // Another thread crashed first and owns the handler: its record and its chained
        // handlers normally end the process while we sleep here. If they have not after about
        // 5 s (two fsyncs on a very slow disk, or a handler stuck somewhere), go on and die of
        // our own signal.
        struct timespec pause = { .tv_sec = 0, .tv_nsec = 10 * 1000 * 1000 };
        for (int i = 0; i < 500; i++) nanosleep(&pause, NULL);
        errno = saved_errno;
        chain_and_die(signal, info, uc, signal_index(signal));
        return;
    }
    owner_signal = signal;
    atomic_store_explicit(&steward_crash_active_tid, (int)tid, memory_order_release);
    // Crash reporting denied: nothing is written; the previous handlers still run.
    if (atomic_load(&recording)) steward_crash_write_record(signal, info, uc, entry_ns);
    errno = saved_errno;
    chain_and_die(signal, info, uc, signal_index(signal));
}

// MARK: - Install

static _Unwind_Reason_Code warm_up_step(struct _Unwind_Context *context, void *argument) {
    (void)context;
    int *frames = argument;
    return ++*frames >= 4 ? _URC_END_OF_STACK : _URC_NO_REASON;
}

int steward_crash_install(const char *directory) {
    if (directory == NULL) return EINVAL;
    pthread_mutex_lock(&install_lock);
    if (atomic_load(&installed)) {
        pthread_mutex_unlock(&install_lock);
        return EALREADY;
    }
    int fd;
    do { fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC); } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int error = errno;
        pthread_mutex_unlock(&install_lock);
        return error;
    }
    int error = give_thread_altstack(1);
    if (error != 0) {
        close(fd);
        pthread_mutex_unlock(&install_lock);
        return error;
    }
    // Load libgcc_s's unwinder and build its caches now, not in the handler.
    int frames = 0;
    _Unwind_Backtrace(warm_up_step, &frames);

    steward_crash_dirfd = fd;
    steward_crash_install_realtime_ns = steward_crash_clock_ns(CLOCK_REALTIME);
    steward_crash_install_monotonic_ns = steward_crash_clock_ns(CLOCK_MONOTONIC);
    atomic_store(&owner_tid, 0);

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handle_signal;
    // SA_NODEFER: a crash inside the handler re-enters it (and is reported as NESTED) instead
    // of killing the process silently with the signal blocked.
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < STEWARD_CRASH_SIGNAL_COUNT; i++) {
        if (sigaction(steward_crash_signals[i], &action, &previous[i]) != 0) {
            error = errno;
            for (int j = 0; j < i; j++) sigaction(steward_crash_signals[j], &previous[j], NULL);
            steward_crash_dirfd = -1;
            close(fd);
            pthread_mutex_unlock(&install_lock);
            return error;
        }
    }
    atomic_store(&installed, 1);
    pthread_mutex_unlock(&install_lock);
    return 0;
}

int steward_crash_uninstall(void) {
    pthread_mutex_lock(&install_lock);
    if (!atomic_load(&installed)) {
        pthread_mutex_unlock(&install_lock);
        return EINVAL;
    }
    for (int i = 0; i < STEWARD_CRASH_SIGNAL_COUNT; i++) sigaction(steward_crash_signals[i], &previous[i], NULL);
    close(steward_crash_dirfd);
    steward_crash_dirfd = -1;
    atomic_store(&installed, 0);
    pthread_mutex_unlock(&install_lock);
    return 0;
}

int steward_crash_is_installed(void) { return atomic_load(&installed); }

/// Whether the handler writes records: off until consent has been applied.
static _Atomic int recording = 0;

void steward_crash_set_recording(int enabled) { atomic_store(&recording, enabled != 0); }

uint8_t steward_crash_record_key[32];
uint8_t steward_crash_record_salt[16];
_Atomic int steward_crash_key_set;

void steward_crash_set_record_key(const uint8_t key[32], const uint8_t salt[16]) {
    // Not while a record is being written with the old one: callers set it at install.
    atomic_store(&steward_crash_key_set, 0);
    memcpy(steward_crash_record_key, key, 32);
    memcpy(steward_crash_record_salt, salt, 16);
    atomic_store(&steward_crash_key_set, 1);
}

void steward_crash_clear_record_key(void) {
    atomic_store(&steward_crash_key_set, 0);
    // A record being written right now may still be copying the key: leave it (the process
    // is about to die of that crash anyway).
    if (atomic_load_explicit(&steward_crash_active_tid, memory_order_acquire) != 0) return;
    volatile uint8_t *k = steward_crash_record_key;
    for (size_t i = 0; i < sizeof steward_crash_record_key; i++) k[i] = 0;
}

int steward_crash_handler_active(void) {
    int active = atomic_load_explicit(&steward_crash_active_tid, memory_order_acquire);
    return active != 0 && active == (int)steward_crash_gettid();
}

// MARK: - Test hooks

void steward_crash_test_allocate_in_handler(int enabled) {
    atomic_store(&steward_crash_allocate_in_handler, enabled != 0);
}

int steward_crash_test_write_record(int signal) {
    if (!atomic_load(&installed)) return EINVAL;
    // As the handler: nothing is written while recording is off.
    if (!atomic_load(&recording)) return 0;
    int64_t entry_ns = steward_crash_clock_ns(CLOCK_MONOTONIC);
    pid_t tid = steward_crash_gettid();
    int expected = 0;
    if (!atomic_compare_exchange_strong(&owner_tid, &expected, (int)tid)) return EBUSY;
    ucontext_t uc;
    memset(&uc, 0, sizeof uc);
    getcontext(&uc);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = signal;
    info.si_code = SI_USER;
    atomic_store_explicit(&steward_crash_active_tid, (int)tid, memory_order_release);
    int result = steward_crash_write_record(signal, &info, &uc, entry_ns);
    atomic_store_explicit(&steward_crash_active_tid, 0, memory_order_release);
    atomic_store(&owner_tid, 0);
    return result;
}
