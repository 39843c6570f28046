// Private to CStewardCrash: the state the handler shares with install, the ring and the
// record writer. Nothing here is part of the module's API.
#ifndef STEWARD_CRASH_INTERNAL_H
#define STEWARD_CRASH_INTERNAL_H

#include "CStewardCrash.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/// The signals the handler takes, in one fixed order.
#define STEWARD_CRASH_SIGNAL_COUNT 6
extern const int steward_crash_signals[STEWARD_CRASH_SIGNAL_COUNT];

/// The folder records go to (-1 when not installed).
extern int steward_crash_dirfd;
/// When steward_crash_install ran.
extern int64_t steward_crash_install_realtime_ns;
extern int64_t steward_crash_install_monotonic_ns;
/// The tid of the thread writing a record right now (0: none). Only the probe reads it.
extern _Atomic int steward_crash_active_tid;
/// Test hook: malloc once inside the handler.
extern _Atomic int steward_crash_allocate_in_handler;

/// The record key and its salt (set by steward_crash_set_record_key); valid while
/// steward_crash_key_set is 1.
extern uint8_t steward_crash_record_key[32];
extern uint8_t steward_crash_record_salt[16];
extern _Atomic int steward_crash_key_set;

int64_t steward_crash_clock_ns(int clock);
/// Reads `length` bytes of this process's memory at `address` without faulting
/// (process_vm_readv: a bad address gives EFAULT). Async-signal-safe. Returns 0 or -1.
int steward_crash_safe_read(uint64_t address, void *out, size_t length);
/// The program counter and frame pointer a signal's ucontext_t holds (0 where unknown).
uint64_t steward_crash_context_pc(const void *context);
uint64_t steward_crash_context_fp(const void *context);
pid_t steward_crash_gettid(void);

/// Writes a complete record for `signal` (info and uc may describe a real signal or a
/// fabricated one). `entry_ns` is CLOCK_MONOTONIC at handler entry. Returns 0 or an errno.
int steward_crash_write_record(int signal, const siginfo_t *info, const void *uc,
                               int64_t entry_ns);

/// Writes the minimal record of a crash inside the handler (SIGNAL, NESTED, END), with its own
/// buffer: the main writer may be half-way through a section.
void steward_crash_write_nested_record(int signal, const siginfo_t *info);


/// Copies the published context blob into `out` (STEWARD_CRASH_CONTEXT_MAX bytes), returns its
/// length, or -1 when no consistent copy could be taken.
long steward_crash_context_copy(uint8_t *out);

#endif
