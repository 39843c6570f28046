// The breadcrumb ring and the context blob: written by Swift from any thread, read by the
// handler without a lock.
//
// Ring: STEWARD_CRASH_BREADCRUMB_COUNT fixed slots and a global ticket counter. A writer takes
// a ticket with fetch_add (ticket % COUNT picks the slot) and fills the slot under the slot's
// sequence number (odd while written: a seqlock). A reader copies a slot, then checks that the
// sequence did not move and that the slot holds the ticket it expected; a torn or overwritten
// slot is skipped. Writers never block each other: a writer that finds its slot being written by
// another (only when COUNT breadcrumbs arrive during one write) spins a bounded while, then
// drops its breadcrumb; one that finds a newer ticket in its slot drops its own, older one.
//
// Context: two buffers, each under its own seqlock, and an atomic index of the published one.
// Writers are serialised by an atomic flag (setting the context is rare: once at start and on a
// change of session); the handler never takes that flag, it retries a torn copy a few times.
#include "crash_internal.h"

#include <errno.h>
#include <string.h>

typedef struct {
    _Atomic uint32_t sequence;   // odd while a writer fills the slot
    _Atomic uint64_t ticket;     // the ticket + 1 of the breadcrumb it holds (0: empty)
    steward_crash_breadcrumb_t breadcrumb;
} ring_slot_t;

static ring_slot_t ring[STEWARD_CRASH_BREADCRUMB_COUNT];
static _Atomic uint64_t ring_tickets;

static uint16_t copy_text(char *to, size_t capacity, const char *from) {
    if (from == NULL) return 0;
    size_t length = strnlen(from, capacity);
    // Never cut a UTF-8 sequence in half: back off to the start of the last whole character.
    if (length == capacity && from[length] != '\0') {
        while (length > 0 && ((unsigned char)from[length] & 0xC0) == 0x80) length--;
    }
    memcpy(to, from, length);
    if (length < capacity) memset(to + length, 0, capacity - length);
    return (uint16_t)length;
}

void steward_crash_add_breadcrumb(uint64_t timestamp_ms, uint8_t level, const char *category,
                                  const char *message, const char *data) {
    uint64_t ticket = atomic_fetch_add_explicit(&ring_tickets, 1, memory_order_relaxed);
    ring_slot_t *slot = &ring[ticket % STEWARD_CRASH_BREADCRUMB_COUNT];
    uint32_t sequence = atomic_load_explicit(&slot->sequence, memory_order_relaxed);
    for (int spins = 0;; spins++) {
        // Another writer in this slot (it took its ticket COUNT breadcrumbs ago): give it a
        // moment to finish, then drop ours rather than wait on it.
        if ((sequence & 1) == 0 &&
            atomic_compare_exchange_weak_explicit(&slot->sequence, &sequence, sequence + 1,
                                                  memory_order_acquire, memory_order_relaxed)) {
            break;
        }
        if (spins >= 4096) return;
        sequence = atomic_load_explicit(&slot->sequence, memory_order_relaxed);
    }
    atomic_thread_fence(memory_order_release);
    if (atomic_load_explicit(&slot->ticket, memory_order_relaxed) > ticket + 1) {
        // A newer breadcrumb got here first: leave it.
        atomic_store_explicit(&slot->sequence, sequence + 2, memory_order_release);
        return;
    }
    steward_crash_breadcrumb_t *b = &slot->breadcrumb;
    b->timestamp_ms = timestamp_ms;
    b->level = level;
    memset(b->reserved, 0, sizeof b->reserved);
    b->reserved2 = 0;
    b->category_length = copy_text(b->category, sizeof b->category, category);
    b->message_length = copy_text(b->message, sizeof b->message, message);
    b->data_length = copy_text(b->data, sizeof b->data, data);
    atomic_store_explicit(&slot->ticket, ticket + 1, memory_order_relaxed);
    atomic_store_explicit(&slot->sequence, sequence + 2, memory_order_release);
}

uint64_t steward_crash_breadcrumb_position(void) {
    return atomic_load_explicit(&ring_tickets, memory_order_acquire);
}

size_t steward_crash_copy_breadcrumbs(steward_crash_breadcrumb_t *out, size_t capacity) {
    return steward_crash_copy_breadcrumbs_before(out, capacity, steward_crash_breadcrumb_position());
}

size_t steward_crash_copy_breadcrumbs_before(steward_crash_breadcrumb_t *out, size_t capacity, uint64_t end) {
    if (out == NULL || capacity == 0) return 0;
    uint64_t now = atomic_load_explicit(&ring_tickets, memory_order_acquire);
    if (end > now) end = now;
    uint64_t start = end > STEWARD_CRASH_BREADCRUMB_COUNT ? end - STEWARD_CRASH_BREADCRUMB_COUNT : 0;
    size_t copied = 0;
    for (uint64_t ticket = start; ticket < end && copied < capacity; ticket++) {
        ring_slot_t *slot = &ring[ticket % STEWARD_CRASH_BREADCRUMB_COUNT];
        uint32_t before = atomic_load_explicit(&slot->sequence, memory_order_acquire);
        if ((before & 1) != 0) continue;
        if (atomic_load_explicit(&slot->ticket, memory_order_relaxed) != ticket + 1) continue;
        memcpy(&out[copied], &slot->breadcrumb, sizeof out[copied]);
        atomic_thread_fence(memory_order_acquire);
        uint32_t after = atomic_load_explicit(&slot->sequence, memory_order_relaxed);
        if (after != before) continue;  // torn: a writer came in while we copied
        copied++;
    }
    return copied;
}

// MARK: - Context

typedef struct {
    _Atomic uint32_t sequence;  // odd while written
    size_t length;
    uint8_t bytes[STEWARD_CRASH_CONTEXT_MAX];
} context_buffer_t;

static context_buffer_t context_buffers[2];
static _Atomic int context_published = -1;     // -1: none yet
static atomic_flag context_writer = ATOMIC_FLAG_INIT;

int steward_crash_set_context(const void *bytes, size_t length) {
    if (length > STEWARD_CRASH_CONTEXT_MAX) return EMSGSIZE;
    if (length > 0 && bytes == NULL) return EINVAL;
    while (atomic_flag_test_and_set_explicit(&context_writer, memory_order_acquire)) {
        // Writers are rare and short; spin.
    }
    int published = atomic_load_explicit(&context_published, memory_order_relaxed);
    int target = published == 0 ? 1 : 0;
    context_buffer_t *buffer = &context_buffers[target];
    uint32_t sequence = atomic_load_explicit(&buffer->sequence, memory_order_relaxed);
    atomic_store_explicit(&buffer->sequence, sequence + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    if (length > 0) memcpy(buffer->bytes, bytes, length);
    buffer->length = length;
    atomic_store_explicit(&buffer->sequence, sequence + 2, memory_order_release);
    atomic_store_explicit(&context_published, target, memory_order_release);
    atomic_flag_clear_explicit(&context_writer, memory_order_release);
    return 0;
}

long steward_crash_context_copy(uint8_t *out) {
    for (int attempt = 0; attempt < 4; attempt++) {
        int published = atomic_load_explicit(&context_published, memory_order_acquire);
        if (published < 0) return 0;
        context_buffer_t *buffer = &context_buffers[published];
        uint32_t before = atomic_load_explicit(&buffer->sequence, memory_order_acquire);
        if ((before & 1) != 0) continue;
        size_t length = buffer->length;
        if (length > STEWARD_CRASH_CONTEXT_MAX) continue;
        memcpy(out, buffer->bytes, length);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&buffer->sequence, memory_order_relaxed) == before) return (long)length;
    }
    return -1;
}
