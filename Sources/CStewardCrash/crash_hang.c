// The hang sampler: the stack of another thread of this process, taken by that thread itself
// in a signal handler. The watchdog (Swift) asks for one thread at a time: it publishes a
// request (the target's tid and a sequence number) in one atomic word, sends the signal with
// tgkill, and polls for completion with a bounded wait. The handler, on the target thread,
// claims the request with a compare-and-swap, walks the frame pointers from the interrupted
// context into a static buffer (memory read through process_vm_readv: a broken chain ends the
// walk, it cannot fault), and publishes the sequence number. No allocation, no lock, only
// async-signal-safe calls (gettid, getpid, process_vm_readv, sigaction, raise).
//
// Two signals: a realtime signal nobody handles (chosen at install, from SIGRTMAX-4 down),
// for ordinary threads, and SIGPROF for libdispatch's worker threads (the Swift concurrency
// pool on Linux), which block every signal but the synchronous ones and SIGPROF, so that
// profilers can sample them. SIGPROF is taken only when nobody handles it (no profiler runs);
// a signal that is not ours goes to the previous disposition.
#define _GNU_SOURCE
#include "crash_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define HANG_TID_MASK 0xFFFFFFFFull
#define HANG_RUNNING (1ull << 32)
#define HANG_SEQUENCE_SHIFT 33

/// [0] the realtime signal, [1] SIGPROF; 0 where not installed.
static int hang_signals[2];
static struct sigaction hang_previous[2];
/// The pending request: tid | running << 32 | sequence << 33; 0 when none.
static _Atomic uint64_t hang_request;
/// The sequence number of the last request answered.
static _Atomic uint64_t hang_done;
/// What the answering handler walked (valid once hang_done names the request).
static uint64_t hang_frames[STEWARD_CRASH_HANG_FRAMES_MAX];
static int hang_frame_count;
/// The watchdog's side: serialised by the caller (one sample at a time).
static uint64_t hang_sequence;
static pthread_mutex_t hang_install_lock = PTHREAD_MUTEX_INITIALIZER;

static void hang_handler(int signal, siginfo_t *info, void *context);

static int hang_slot(int signal) {
    if (signal != 0 && signal == hang_signals[0]) return 0;
    if (signal != 0 && signal == hang_signals[1]) return 1;
    return -1;
}

/// A signal that is not a request of ours: what would have happened without us.
static void hang_chain(int signal, siginfo_t *info, void *context) {
    int slot = hang_slot(signal);
    if (slot < 0) return;
    const struct sigaction *previous = &hang_previous[slot];
    if (previous->sa_flags & SA_SIGINFO) {
        if (previous->sa_sigaction != NULL) previous->sa_sigaction(signal, info, context);
    } else if (previous->sa_handler == SIG_IGN) {
        return;
    } else if (previous->sa_handler == SIG_DFL) {
        // The default action (terminate, for both signals): restore it and raise; the signal
        // is delivered once this handler returns. Only when the signal came to this handler
        // itself: a handler installed after ours (a profiler's) that chains to it would never
        // have met the default action without us.
        struct sigaction current;
        if (sigaction(signal, NULL, &current) != 0 || !(current.sa_flags & SA_SIGINFO)
            || current.sa_sigaction != hang_handler) {
            return;
        }
        sigaction(signal, previous, NULL);
        raise(signal);
    } else {
        previous->sa_handler(signal);
    }
}

/// The stack pointer a signal's ucontext_t holds (0 where unknown).
static uint64_t hang_context_sp(const void *context) {
#if defined(__x86_64__)
    return (uint64_t)((const ucontext_t *)context)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uint64_t)((const ucontext_t *)context)->uc_mcontext.sp;
#else
    (void)context;
    return 0;
#endif
}

/// Whether `address` follows a call instruction (read without faulting): what a return
/// address looks like.
static int hang_follows_call(uint64_t address) {
#if defined(__x86_64__)
    uint8_t code[7];  // the 7 bytes before `address`
    if (address < sizeof code || steward_crash_safe_read(address - sizeof code, code, sizeof code) != 0) return 0;
    // call rel32; then `call` through a register or memory (FF /2), by length: the ModRM byte
    // (mod, reg = 2, r/m), with a SIB byte where r/m is 4, a displacement by mod.
    if (code[2] == 0xE8) return 1;                                                   // e8 rel32
    if (code[5] == 0xFF && (code[6] & 0xF8) == 0xD0) return 1;                       // *%reg
    if (code[5] == 0xFF && (code[6] & 0xF8) == 0x10 && (code[6] & 7) != 4 && (code[6] & 7) != 5) return 1;  // *(%reg)
    if (code[4] == 0xFF && code[5] == 0x14) return 1;                                // *(sib)
    if (code[4] == 0xFF && (code[5] & 0xF8) == 0x50 && (code[5] & 7) != 4) return 1;  // *disp8(%reg)
    if (code[3] == 0xFF && code[4] == 0x54) return 1;                                // *disp8(sib)
    if (code[1] == 0xFF && (((code[2] & 0xF8) == 0x90 && (code[2] & 7) != 4) || code[2] == 0x15)) return 1;  // disp32, rip
    if (code[0] == 0xFF && code[1] == 0x94) return 1;                                // *disp32(sib)
    return 0;
#elif defined(__aarch64__)
    uint32_t instruction;
    if (address < 4 || (address & 3) != 0 || steward_crash_safe_read(address - 4, &instruction, 4) != 0) return 0;
    return (instruction & 0xFC000000u) == 0x94000000u || (instruction & 0xFFFFFC1Fu) == 0xD63F0000u;  // bl, blr
#else
    (void)address;
    return 0;
#endif
}

/// The most return addresses the scan of the top of the stack adds.
#define HANG_SCANNED_MAX 8
/// How far above the stack pointer it looks when the frame pointer does not bound it.
#define HANG_SCAN_BYTES 1024
/// How far above the stack pointer a frame record may be.
#define HANG_CHAIN_SPAN (64ull * 1024 * 1024)

static void hang_walk(const void *context) {
    int count = 0;
    uint64_t pc = context != NULL ? steward_crash_context_pc(context) : 0;
    uint64_t fp = context != NULL ? steward_crash_context_fp(context) : 0;
    uint64_t sp = context != NULL ? hang_context_sp(context) : 0;
    if (pc != 0) hang_frames[count++] = pc;
    // A thread is mostly interrupted inside libc (a system call's wrapper), whose functions
    // keep no frame record: the frame pointer still names the frame of the last function that
    // has one, and the return addresses into the functions between (the caller of `read`,
    // `usleep`…) lie on the stack between the stack pointer and that frame. They are found by
    // scanning those words for values that follow a call instruction, as Breakpad's stack
    // walker does where it has nothing better (a stale one may come along).
    if (sp != 0 && (sp & 7) == 0) {
        uint64_t limit = (fp > sp && fp - sp <= 16 * 1024) ? fp : sp + HANG_SCAN_BYTES;
        int scanned = 0;
        for (uint64_t at = sp; at < limit && scanned < HANG_SCANNED_MAX && count < STEWARD_CRASH_HANG_FRAMES_MAX;
             at += 8) {
            uint64_t word;
            if (steward_crash_safe_read(at, &word, sizeof word) != 0) break;
            if (word > 4096 && word != pc && hang_follows_call(word)) {
                hang_frames[count++] = word;
                scanned++;
            }
        }
    }
    // The chain: frame records above the stack pointer (within 64 MiB of it), each return
    // address checked like the scan's. In code without frame pointers (optimised Swift on
    // Linux) the frame-pointer register holds anything: the checks end the walk there instead
    // of adding garbage.
    while (count < STEWARD_CRASH_HANG_FRAMES_MAX && fp != 0 && (fp & 7) == 0 && fp > sp
           && fp - sp <= HANG_CHAIN_SPAN) {
        uint64_t pair[2];  // saved frame pointer, return address
        if (steward_crash_safe_read(fp, pair, sizeof pair) != 0) break;
        if (pair[1] == 0 || !hang_follows_call(pair[1])) break;
        hang_frames[count++] = pair[1];
        if (pair[0] <= fp) break;  // the stack grows down: callers' frames are higher
        fp = pair[0];
    }
    hang_frame_count = count;
}

static void hang_handler(int signal, siginfo_t *info, void *context) {
    int saved_errno = errno;
    int ours = info != NULL && info->si_code == SI_TKILL && info->si_pid == getpid();
    if (!ours) {
        hang_chain(signal, info, context);
        errno = saved_errno;
        return;
    }
    uint64_t request = atomic_load(&hang_request);
    // A request for this thread, not claimed yet; a late signal of an abandoned request finds
    // none (or another thread's) and does nothing.
    if (request != 0 && (request & HANG_RUNNING) == 0
        && (pid_t)(request & HANG_TID_MASK) == steward_crash_gettid()
        && atomic_compare_exchange_strong(&hang_request, &request, request | HANG_RUNNING)) {
        hang_walk(context);
        atomic_store(&hang_done, request >> HANG_SEQUENCE_SHIFT);
    }
    errno = saved_errno;
}

/// Takes `signal` when nobody handles it (SIG_DFL or SIG_IGN). Returns 0 or an errno value.
static int hang_take(int slot, int signal) {
    struct sigaction current;
    if (sigaction(signal, NULL, &current) != 0) return errno;
    if ((current.sa_flags & SA_SIGINFO) || (current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN)) {
        return EBUSY;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = hang_handler;
    action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    hang_previous[slot] = current;
    if (sigaction(signal, &action, NULL) != 0) return errno;
    hang_signals[slot] = signal;
    return 0;
}

/// Gives `signal` back: ignored for a moment first, which discards a late request still
/// pending on a thread that blocks it (it must not meet the default action, which terminates).
static void hang_give_back(int slot) {
    int signal = hang_signals[slot];
    if (signal == 0) return;
    struct sigaction current, ignore;
    if (sigaction(signal, NULL, &current) == 0 && (current.sa_flags & SA_SIGINFO)
        && current.sa_sigaction == hang_handler) {
        memset(&ignore, 0, sizeof ignore);
        ignore.sa_handler = SIG_IGN;
        sigemptyset(&ignore.sa_mask);
        sigaction(signal, &ignore, NULL);
        sigaction(signal, &hang_previous[slot], NULL);
    }
    hang_signals[slot] = 0;
}

int steward_crash_hang_install(int profiling) {
    pthread_mutex_lock(&hang_install_lock);
    int result = 0;
    if (hang_signals[0] == 0) {
        result = EAGAIN;
        for (int signal = SIGRTMAX - 4; signal >= SIGRTMIN + 4; signal--) {
            if (hang_take(0, signal) == 0) {
                result = 0;
                break;
            }
        }
    }
    if (result == 0 && profiling && hang_signals[1] == 0) {
        // Not an error when a profiler has it: pool threads are then reported without stacks.
        (void)hang_take(1, SIGPROF);
    }
    if (result == 0 && !profiling) hang_give_back(1);
    pthread_mutex_unlock(&hang_install_lock);
    return result;
}

void steward_crash_hang_uninstall(void) {
    pthread_mutex_lock(&hang_install_lock);
    hang_give_back(0);
    hang_give_back(1);
    pthread_mutex_unlock(&hang_install_lock);
}

int steward_crash_hang_prepare_thread(void) {
    int signal = hang_signals[0];
    if (signal == 0) return ENOSYS;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal);
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int steward_crash_hang_signal(int profiling) { return hang_signals[profiling ? 1 : 0]; }

int steward_crash_hang_sample(int64_t tid, int profiling, uint64_t *out, int capacity, int timeout_ms) {
    if (out == NULL || capacity <= 0 || tid <= 0 || tid > (int64_t)INT32_MAX) return -EINVAL;
    if (tid == (int64_t)steward_crash_gettid()) return -EDEADLK;
    int signal = hang_signals[profiling ? 1 : 0];
    if (signal == 0) return -ENOSYS;
    struct sigaction current;
    if (sigaction(signal, NULL, &current) != 0 || !(current.sa_flags & SA_SIGINFO)
        || current.sa_sigaction != hang_handler) {
        return -EBUSY;  // someone else took the signal since
    }
    hang_sequence = (hang_sequence + 1) & ((1ull << 31) - 1);
    if (hang_sequence == 0) hang_sequence = 1;
    uint64_t sequence = hang_sequence;
    uint64_t request = (sequence << HANG_SEQUENCE_SHIFT) | ((uint64_t)tid & HANG_TID_MASK);
    atomic_store(&hang_request, request);
    if (syscall(SYS_tgkill, (long)getpid(), (long)tid, (long)signal) != 0) {
        int error = errno;
        atomic_store(&hang_request, 0);
        return -error;
    }
    if (timeout_ms < 0) timeout_ms = 0;
    int64_t deadline = steward_crash_clock_ns(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000000;
    const struct timespec pause = { .tv_sec = 0, .tv_nsec = 200000 };  // 0.2 ms
    while (atomic_load(&hang_done) != sequence) {
        if (steward_crash_clock_ns(CLOCK_MONOTONIC) >= deadline) {
            uint64_t expected = request;
            // Abandoned unless the handler claimed it already (then it finishes: it is bounded).
            if (atomic_compare_exchange_strong(&hang_request, &expected, 0)) return -ETIMEDOUT;
        }
        nanosleep(&pause, NULL);
    }
    int count = hang_frame_count < capacity ? hang_frame_count : capacity;
    memcpy(out, hang_frames, (size_t)count * sizeof out[0]);
    atomic_store(&hang_request, 0);
    return count;
}
