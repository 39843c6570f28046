// Handled errors: what the caller's thread captures before handing over (the stack, through
// the DWARF unwinder), and the loaded-image generation that tells a cached image list is
// current. Ordinary code, not async-signal-safe: the crash handler has its own unwinding.

#define _GNU_SOURCE
#include "CStewardCrash.h"

#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

static _Thread_local int64_t cached_tid;

int64_t steward_crash_thread_id(void) {
    if (cached_tid == 0) cached_tid = (int64_t)syscall(SYS_gettid);
    return cached_tid;
}

int steward_crash_thread_name(char *out, size_t capacity) {
    char name[17] = { 0 };
    if (out == NULL || capacity == 0 || prctl(PR_GET_NAME, name, 0, 0, 0) != 0) return -1;
    size_t length = strnlen(name, 16);
    if (length >= capacity) length = capacity - 1;
    memcpy(out, name, length);
    out[length] = 0;
    return (int)length;
}

typedef struct {
    uint64_t *out;
    int capacity;
    int count;
    int skipped;
} capture_state_t;

static _Unwind_Reason_Code capture_step(struct _Unwind_Context *context, void *argument) {
    capture_state_t *state = argument;
    uint64_t ip = (uint64_t)_Unwind_GetIP(context);
    if (ip == 0) return _URC_END_OF_STACK;
    // The first frame is this file's own function: skipped, so the caller comes first.
    if (state->skipped == 0) {
        state->skipped = 1;
        return _URC_NO_REASON;
    }
    state->out[state->count++] = ip;
    return state->count == state->capacity ? _URC_END_OF_STACK : _URC_NO_REASON;
}

__attribute__((noinline)) int steward_crash_capture_stack(uint64_t *out, int capacity) {
    if (out == NULL || capacity <= 0) return 0;
    capture_state_t state = { .out = out, .capacity = capacity, .count = 0, .skipped = 0 };
    _Unwind_Backtrace(capture_step, &state);
    return state.count;
}

static int generation_step(struct dl_phdr_info *info, size_t size, void *argument) {
    uint64_t *generation = argument;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        *generation = ((uint64_t)info->dlpi_adds << 32) ^ (uint64_t)info->dlpi_subs;
    }
    return 1;  // the counters are the same in every entry: the first is enough
}

uint64_t steward_crash_image_generation(void) {
    uint64_t generation = 0;
    dl_iterate_phdr(generation_step, &generation);
    return generation;
}
