// Handled errors: what the caller's thread captures before handing over (the stack, by its
// frame pointers), and the loaded-image generation that tells a cached image list is
// current. Ordinary code, not async-signal-safe: the crash handler has its own unwinding.

#define _GNU_SOURCE
#include <sys/xattr.h>
#include "CStewardCrash.h"

#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

int64_t steward_crash_thread_id(void) {
    // Not cached: a child of fork() would inherit the parent thread's id.
    return (int64_t)syscall(SYS_gettid);
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

/// The calling thread's stack, looked up once per thread (pthread_getattr_np reads
/// /proc/self/maps for the main thread): 1 known, -1 unknown, 0 not looked up yet.
static _Thread_local int stack_known;
static _Thread_local uintptr_t stack_low, stack_high;

static int stack_bounds(void) {
    if (stack_known == 0) {
        stack_known = -1;
        pthread_attr_t attributes;
        if (pthread_getattr_np(pthread_self(), &attributes) == 0) {
            void *address = NULL;
            size_t size = 0;
            if (pthread_attr_getstack(&attributes, &address, &size) == 0 && address != NULL && size > 0) {
                stack_low = (uintptr_t)address;
                stack_high = stack_low + size;
                stack_known = 1;
            }
            pthread_attr_destroy(&attributes);
        }
    }
    return stack_known == 1;
}

/// Walks the frame-pointer chain (Swift keeps frame pointers), reading only inside this
/// thread's stack, aligned and strictly upwards: a chain broken by code without frame pointers
/// ends the walk, it cannot fault. About a nanosecond a frame, against a microsecond for the
/// DWARF unwinder, which remains the fallback where the stack's bounds are unknown.
__attribute__((noinline)) int steward_crash_capture_stack(uint64_t *out, int capacity) {
    if (out == NULL || capacity <= 0) return 0;
    if (stack_bounds()) {
        // This function's own frame (forced by __builtin_frame_address): its saved return
        // address is the caller's, which comes first.
        uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
        int count = 0;
        while (count < capacity && fp >= stack_low && fp <= stack_high - 16 && (fp & 7) == 0) {
            const uintptr_t *frame = (const uintptr_t *)fp;
            uintptr_t next = frame[0], return_address = frame[1];
            if (return_address == 0) break;
            out[count++] = (uint64_t)return_address;
            if (next <= fp) break;
            fp = next;
        }
        if (count > 0) return count;
    }
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

long steward_crash_read_xattr(const char *path, const char *name, void *out, size_t capacity) {
    return (long)lgetxattr(path, name, out, capacity);
}
