// The record writer: runs inside the signal handler. Static buffers only, async-signal-safe
// system calls only (openat, open, write, read, fsync, close, clock_gettime, prctl, getrandom,
// process_vm_readv), plus _Unwind_Backtrace, which install() warmed up, and the sealing in
// crash_seal.c (arithmetic only).
// The format is Documentation/CrashRecordFormat.md.
#define _GNU_SOURCE
#include "crash_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <unwind.h>

// MARK: - Sealed, buffered writer
//
// The file is a 40-byte plaintext header (magic, version 2, flags, the key's salt, pid, record
// number) followed by chunks: u32 length, that many bytes of ChaCha20-Poly1305 ciphertext, a
// 16-byte tag. Each chunk seals up to 4096 bytes of the record stream (the version 1 format);
// its nonce is pid, record number (top bit set on the last chunk) and chunk index, and the
// header is its associated data. A chunk cut short or altered fails to open; the chunks
// before it still read, as a partial record.
//
// Sealed frames collect in `out` and go to the file in one write when it is full and at the
// points the record must reach the file (after the signal's chunk, before the unwinder, at the
// end): a record takes a handful of system calls instead of one per 4 KiB chunk.

/// Frames `out` holds before it is written.
#define OUT_FRAMES 16
#define FRAME_MAX (4 + STEWARD_CRASH_CHUNK_MAX + 16)

typedef struct {
    int fd;
    int failed;        // an errno once a write failed; later writes are dropped
    uint32_t chunk;    // index of the next chunk
    size_t used;
    uint8_t header[STEWARD_CRASH_SEALED_HEADER];
    uint8_t key[32];   // this record's copy of the key (the global may be cleared meanwhile)
    int writing;       // set while `out` is being written (abandon() then adds nothing)
    size_t out_used;
    uint8_t buffer[STEWARD_CRASH_CHUNK_MAX];
    uint8_t out[STEWARD_CRASH_SEALED_HEADER + OUT_FRAMES * FRAME_MAX];
} writer_t;

static writer_t record_writer = { .fd = -1 };
static writer_t nested_writer = { .fd = -1 };
/// Numbers the records of this process (two threads, or a nested crash, never share a nonce).
static _Atomic uint32_t record_counter;

static void write_all(writer_t *w, const uint8_t *bytes, size_t length) {
    while (length > 0 && w->failed == 0) {
        ssize_t n = write(w->fd, bytes, length);
        if (n < 0) {
            if (errno == EINTR) continue;
            w->failed = errno;
            return;
        }
        if (n == 0) { w->failed = EIO; return; }
        bytes += n;
        length -= (size_t)n;
    }
}

static void le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/// Writes the collected frames to the file. They count as written before the write: a signal
/// during it that ends in abandon() must neither write them twice nor add after a torn frame.
static void write_out(writer_t *w) {
    size_t length = w->out_used;
    if (length == 0) return;
    w->out_used = 0;
    w->writing = 1;
    write_all(w, w->out, length);
    w->writing = 0;
}

/// Seals what is buffered as the next chunk into `out` (`last`: the record's final chunk).
static void flush_chunk(writer_t *w, int last) {
    if (w->used == 0 && !last) return;
    if (w->out_used + FRAME_MAX > sizeof w->out) write_out(w);
    uint8_t nonce[12];
    memcpy(nonce, w->header + 32, 4);  // pid
    uint32_t number = (uint32_t)w->header[36] | ((uint32_t)w->header[37] << 8) | ((uint32_t)w->header[38] << 16) | ((uint32_t)w->header[39] << 24);
    le32(nonce + 4, number | (last ? 0x80000000u : 0));
    le32(nonce + 8, w->chunk);
    uint8_t *frame = w->out + w->out_used;
    le32(frame, (uint32_t)w->used);
    memcpy(frame + 4, w->buffer, w->used);
    steward_crash_seal(w->key, nonce, w->header, sizeof w->header, frame + 4, w->used, frame + 4 + w->used);
    // The chunk counts as sealed at once: a signal after this point that ends in abandon()
    // must not seal other bytes under this chunk's nonce.
    w->out_used += 4 + w->used + 16;
    memset(w->buffer, 0, w->used);
    w->chunk++;
    w->used = 0;
}

static void put(writer_t *w, const void *bytes, size_t length) {
    const uint8_t *p = bytes;
    while (length > 0) {
        if (w->used == sizeof w->buffer) flush_chunk(w, 0);
        size_t room = sizeof w->buffer - w->used;
        size_t n = length < room ? length : room;
        memcpy(w->buffer + w->used, p, n);
        w->used += n;
        p += n;
        length -= n;
    }
}

static void put_u32(writer_t *w, uint32_t v) { put(w, &v, sizeof v); }
static void put_i32(writer_t *w, int32_t v) { put(w, &v, sizeof v); }
static void put_u64(writer_t *w, uint64_t v) { put(w, &v, sizeof v); }
static void put_i64(writer_t *w, int64_t v) { put(w, &v, sizeof v); }
static void section(writer_t *w, uint32_t tag, uint32_t length) { put_u32(w, tag); put_u32(w, length); }

// MARK: - File

static size_t format_u64(char *out, uint64_t v) {
    char digits[20];
    size_t n = 0;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v != 0);
    for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    return n;
}

/// crash-<realtime ns>-<pid>-<tid>.stewardcrash, O_EXCL; on a clash (two records in one ns of
/// one thread: only the nested one), the ns is bumped.
static int open_record(int64_t realtime_ns, pid_t pid, pid_t tid) {
    if (steward_crash_dirfd < 0) { errno = EBADF; return -1; }
    for (int attempt = 0; attempt < 8; attempt++) {
        char name[96];
        size_t n = 0;
        memcpy(name, "crash-", 6); n += 6;
        n += format_u64(name + n, (uint64_t)(realtime_ns < 0 ? 0 : realtime_ns) + (uint64_t)attempt);
        name[n++] = '-';
        n += format_u64(name + n, (uint64_t)pid);
        name[n++] = '-';
        n += format_u64(name + n, (uint64_t)tid);
        memcpy(name + n, ".stewardcrash", 14);
        int fd;
        do {
            fd = openat(steward_crash_dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        } while (fd < 0 && errno == EINTR);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

/// Starts a record: takes this record's copy of the key, writes the plaintext file header,
/// then the version 1 header into the sealed stream. Returns 0, or an errno value (ENOKEY
/// without a key: then nothing is written at all).
static int begin(writer_t *w, int64_t realtime_ns, pid_t pid, pid_t tid) {
    if (!atomic_load(&steward_crash_key_set)) return ENOKEY;
    memcpy(w->key, steward_crash_record_key, sizeof w->key);
    w->fd = open_record(realtime_ns, pid, tid);
    if (w->fd < 0) {
        int error = errno;
        memset(w->key, 0, sizeof w->key);
        return error;
    }
    w->failed = 0;
    w->chunk = 0;
    w->used = 0;
    w->out_used = 0;
    w->writing = 0;
    // A random record number (getrandom is a plain system call) plus this process's count: a
    // forked child inherits the key and the count, and a pid may repeat (pid 1 in every
    // container), so neither alone keeps nonces apart.
    uint32_t random = 0;
    if (syscall(SYS_getrandom, &random, sizeof random, 1 /* GRND_NONBLOCK */) != (long)sizeof random) {
        random = (uint32_t)realtime_ns ^ (uint32_t)((uint64_t)realtime_ns >> 32);
    }
    uint32_t number = (random + atomic_fetch_add(&record_counter, 1)) & 0x7FFFFFFFu;
    memcpy(w->header, "STWDCRSH", 8);
    le32(w->header + 8, STEWARD_CRASH_SEALED_VERSION);
    le32(w->header + 12, 0);
    memcpy(w->header + 16, steward_crash_record_salt, 16);
    le32(w->header + 32, (uint32_t)pid);
    le32(w->header + 36, number);
    memcpy(w->out, w->header, sizeof w->header);
    w->out_used = sizeof w->header;
    put(w, "STWDCRSH", 8);
    put_u32(w, 1);
    put_u32(w, 0);
    return 0;
}

/// Closes a record cut short (the handler crashed while writing it): what is buffered goes out
/// as a chunk that is not the last, so the record reads as partial.
static void abandon(writer_t *w) {
    // Interrupted in the middle of a write, the file may end in a torn frame: nothing more.
    if (!w->writing) {
        flush_chunk(w, 0);
        write_out(w);
    }
    memset(w->key, 0, sizeof w->key);
    close(w->fd);
    w->fd = -1;
}

static void put_signal(writer_t *w, int signal, const siginfo_t *info, pid_t pid, pid_t tid,
                       int64_t realtime_ns, int64_t monotonic_ns) {
    section(w, STEWARD_CRASH_SECTION_SIGNAL, 40);
    put_i32(w, signal);
    put_i32(w, info != NULL ? info->si_code : 0);
    put_u64(w, info != NULL ? (uint64_t)(uintptr_t)info->si_addr : 0);
    put_i32(w, pid);
    put_i32(w, tid);
    put_i64(w, realtime_ns);
    put_i64(w, monotonic_ns);
}

static void finish(writer_t *w) {
    section(w, STEWARD_CRASH_SECTION_END, 0);
    flush_chunk(w, 1);
    write_out(w);
    memset(w->key, 0, sizeof w->key);
    while (fsync(w->fd) != 0 && errno == EINTR) {}
    while (fsync(steward_crash_dirfd) != 0 && errno == EINTR) {}
    close(w->fd);
    w->fd = -1;
}

// MARK: - Registers

static void put_register(writer_t *w, const char *name, uint64_t value) {
    char padded[8] = {0};
    size_t n = strnlen(name, 8);
    memcpy(padded, name, n);
    put(w, padded, 8);
    put_u64(w, value);
}

uint64_t steward_crash_context_pc(const void *context) {
    const ucontext_t *uc = context;
#if defined(__x86_64__)
    return (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uint64_t)uc->uc_mcontext.pc;
#else
    (void)uc;
    return 0;
#endif
}

uint64_t steward_crash_context_fp(const void *context) {
    const ucontext_t *uc = context;
#if defined(__x86_64__)
    return (uint64_t)uc->uc_mcontext.gregs[REG_RBP];
#elif defined(__aarch64__)
    return (uint64_t)uc->uc_mcontext.regs[29];
#else
    (void)uc;
    return 0;
#endif
}

static void put_registers(writer_t *w, const ucontext_t *uc) {
#if defined(__x86_64__)
    static const struct { const char *name; int index; } gregs[] = {
        {"rax", REG_RAX}, {"rbx", REG_RBX}, {"rcx", REG_RCX}, {"rdx", REG_RDX},
        {"rsi", REG_RSI}, {"rdi", REG_RDI}, {"rbp", REG_RBP}, {"rsp", REG_RSP},
        {"r8", REG_R8}, {"r9", REG_R9}, {"r10", REG_R10}, {"r11", REG_R11},
        {"r12", REG_R12}, {"r13", REG_R13}, {"r14", REG_R14}, {"r15", REG_R15},
        {"rip", REG_RIP}, {"eflags", REG_EFL},
    };
    size_t count = sizeof gregs / sizeof gregs[0];
    section(w, STEWARD_CRASH_SECTION_REGISTERS, (uint32_t)((count + 3) * 16));
    for (size_t i = 0; i < count; i++) put_register(w, gregs[i].name, (uint64_t)uc->uc_mcontext.gregs[gregs[i].index]);
    uint64_t csgsfs = (uint64_t)uc->uc_mcontext.gregs[REG_CSGSFS];
    put_register(w, "cs", csgsfs & 0xFFFF);
    put_register(w, "fs", (csgsfs >> 32) & 0xFFFF);
    put_register(w, "gs", (csgsfs >> 16) & 0xFFFF);
#elif defined(__aarch64__)
    static const char names[29][4] = {
        "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
        "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
    };
    section(w, STEWARD_CRASH_SECTION_REGISTERS, (uint32_t)((29 + 5) * 16));
    for (int i = 0; i < 29; i++) put_register(w, names[i], uc->uc_mcontext.regs[i]);
    put_register(w, "fp", uc->uc_mcontext.regs[29]);
    put_register(w, "lr", uc->uc_mcontext.regs[30]);
    put_register(w, "sp", uc->uc_mcontext.sp);
    put_register(w, "pc", uc->uc_mcontext.pc);
    put_register(w, "pstate", uc->uc_mcontext.pstate);
#else
    (void)w;
    (void)uc;
#endif
}

// MARK: - Frames

/// Frames the unwinder may pass before reaching the crashed frame (the handler's own, the
/// signal trampoline, a chained handler's).
#define SKIP_MAX 64

static uint64_t unwound[STEWARD_CRASH_FRAMES_MAX + SKIP_MAX];
static uint64_t walked[STEWARD_CRASH_FRAMES_MAX];
static size_t walked_count;
/// The DWARF frames put_dwarf_frames kept: unwound[dwarf_first ..< dwarf_first + dwarf_count].
static size_t dwarf_first, dwarf_count;

typedef struct {
    uint64_t pc;          // the crashed PC, 0 when unknown
    size_t count;
    long match;           // index in unwound of the crashed frame, -1 until found
} unwind_state_t;

static _Unwind_Reason_Code unwind_step(struct _Unwind_Context *context, void *argument) {
    unwind_state_t *state = argument;
    int before_instruction = 0;
    uint64_t ip = (uint64_t)_Unwind_GetIPInfo(context, &before_instruction);
    if (ip == 0) return _URC_END_OF_STACK;
    if (state->match < 0 && state->pc != 0 && ip == state->pc) state->match = (long)state->count;
    unwound[state->count++] = ip;
    if (state->count == sizeof unwound / sizeof unwound[0]) return _URC_END_OF_STACK;
    if (state->match >= 0 && state->count - (size_t)state->match >= STEWARD_CRASH_FRAMES_MAX) return _URC_END_OF_STACK;
    return _URC_NO_REASON;
}

static void put_frames(writer_t *w, uint32_t method, const uint64_t *frames, size_t count) {
    section(w, STEWARD_CRASH_SECTION_FRAMES, (uint32_t)(8 + count * 8));
    put_u32(w, method);
    put_u32(w, (uint32_t)count);
    put(w, frames, count * 8);
}

static void put_dwarf_frames(writer_t *w, uint64_t pc) {
    unwind_state_t state = { .pc = pc, .count = 0, .match = -1 };
    _Unwind_Backtrace(unwind_step, &state);
    // Without the crashed frame among the first frames (no ucontext, or an unwinder that does
    // not see through the signal trampoline), keep everything from the start.
    size_t first = state.match >= 0 ? (size_t)state.match : 0;
    size_t count = state.count - first;
    if (count > STEWARD_CRASH_FRAMES_MAX) count = STEWARD_CRASH_FRAMES_MAX;
    dwarf_first = first;
    dwarf_count = count;
    put_frames(w, STEWARD_CRASH_FRAMES_DWARF, unwound + first, count);
}

/// Reads memory of this process without faulting: a bad address gives EFAULT.
int steward_crash_safe_read(uint64_t address, void *out, size_t length) {
    struct iovec local = { .iov_base = out, .iov_len = length };
    struct iovec remote = { .iov_base = (void *)(uintptr_t)address, .iov_len = length };
    long n = syscall(SYS_process_vm_readv, (long)getpid(), &local, 1L, &remote, 1L, 0L);
    return n == (long)length ? 0 : -1;
}

static void put_frame_pointer_frames(writer_t *w, uint64_t pc, uint64_t fp) {
    size_t count = 0;
    if (pc != 0) walked[count++] = pc;
    while (count < STEWARD_CRASH_FRAMES_MAX && fp != 0 && (fp & 7) == 0) {
        uint64_t pair[2];  // saved frame pointer, return address
        if (steward_crash_safe_read(fp, pair, sizeof pair) != 0) break;
        if (pair[1] == 0) break;
        walked[count++] = pair[1];
        if (pair[0] <= fp) break;  // the stack grows down: callers' frames are higher
        fp = pair[0];
    }
    walked_count = count;
    put_frames(w, STEWARD_CRASH_FRAMES_FRAME_POINTER, walked, count);
}

// MARK: - The Swift runtime's fatal error message

/// Where libswiftCore publishes the message of a fatal error before it traps
/// (`std::atomic<const char *>`, returned by swift_getFatalErrorMessageBuffer); NULL while
/// capture is off or the runtime has none.
static _Atomic(const char *const *) fatal_message_slot;
static uint8_t message_copy[STEWARD_CRASH_MESSAGE_MAX];

int steward_crash_set_fatal_message_capture(int enabled) {
    const char *const *slot = NULL;
    if (enabled) {
        typedef const char *const *(*getter_t)(void);
        getter_t getter = (getter_t)dlsym(RTLD_DEFAULT, "swift_getFatalErrorMessageBuffer");
        if (getter != NULL) slot = getter();
    }
    atomic_store(&fatal_message_slot, slot);
    return slot != NULL;
}

/// The message, copied without faulting (page by page up to its NUL), as a MESSAGE section; nothing
/// when there is none.
static void put_message(writer_t *w) {
    const char *const *slot = atomic_load(&fatal_message_slot);
    if (slot == NULL) return;
    const char *message = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (message == NULL) return;
    uint64_t address = (uint64_t)(uintptr_t)message;
    size_t length = 0;
    const uint64_t page = 4096;  // every page boundary is a multiple of 4096 (sysconf is not signal-safe)
    while (length < sizeof message_copy) {
        // Never across a page boundary: the next page may be unmapped.
        size_t room = (size_t)(page - (address + length) % page);
        if (room > sizeof message_copy - length) room = sizeof message_copy - length;
        if (steward_crash_safe_read(address + length, message_copy + length, room) != 0) break;
        const uint8_t *end = memchr(message_copy + length, 0, room);
        if (end != NULL) {
            length = (size_t)(end - message_copy);
            break;
        }
        length += room;
    }
    if (length == 0) return;
    section(w, STEWARD_CRASH_SECTION_MESSAGE, (uint32_t)length);
    put(w, message_copy, length);
}

// MARK: - Maps, breadcrumbs, context

#define MAPS_MAX (1024 * 1024)

/// /proc/self/maps, read whole once per record. In .bss: untouched until a crash, so it costs
/// no memory before one.
static uint8_t maps_text[MAPS_MAX];
static uint32_t maps_total;

/// Only the images the frames point into go into the record (a few lines instead of the whole
/// text, 97 % of a record before): every line of each file a frame points into (all its
/// segments, so the load bias can be found), and the one anonymous mapping a frame points into
/// (JIT code). Selections are spans of maps_text; at most SELECTED_MAX of each.
#define SELECTED_MAX 128
typedef struct {
    uint32_t start, length;
} span_t;
/// The text's lines, parsed once per record (the kernel lists mappings in address order, so
/// an address is found by binary search): a few lines per loaded object, 8,192 at most.
#define MAP_LINES_MAX 32768
typedef struct {
    uint64_t low, high;
    uint32_t start, end;  // the line in maps_text, its newline included
    span_t path;
} map_line_t;
static map_line_t map_lines[MAP_LINES_MAX];
static size_t map_line_count;
static span_t selected_paths[SELECTED_MAX];
static size_t selected_path_count;
static uint32_t selected_lines[SELECTED_MAX];  // line starts of anonymous mappings
static size_t selected_line_count;

static int parse_line(uint32_t at, uint32_t *end, uint64_t *low, uint64_t *high, span_t *path);

static void read_maps(void) {
    maps_total = 0;
    map_line_count = 0;
    selected_path_count = 0;
    selected_line_count = 0;
    int fd;
    do { fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC); } while (fd < 0 && errno == EINTR);
    if (fd < 0) return;
    while (maps_total < MAPS_MAX) {
        ssize_t n = read(fd, maps_text + maps_total, MAPS_MAX - maps_total);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        maps_total += (uint32_t)n;
    }
    close(fd);
    map_line_count = 0;
    uint32_t at = 0, end;
    while (at < maps_total && map_line_count < MAP_LINES_MAX) {
        map_line_t *line = &map_lines[map_line_count];
        if (parse_line(at, &end, &line->low, &line->high, &line->path) && line->low < line->high) {
            line->start = at;
            line->end = end;
            map_line_count++;
        }
        if (end == at) break;
        at = end;
    }
}

static int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// One line of maps_text starting at `at`: its end (past the newline), the mapping's range and
/// the path's span (length 0: anonymous). Returns 0 for a line that does not parse.
static int parse_line(uint32_t at, uint32_t *end, uint64_t *low, uint64_t *high, span_t *path) {
    uint32_t i = at;
    while (i < maps_total && maps_text[i] != '\n') i++;
    *end = i < maps_total ? i + 1 : i;
    uint32_t line_end = i;
    uint64_t values[2] = { 0, 0 };
    uint32_t p = at;
    for (int k = 0; k < 2; k++) {
        int digits = 0, d;
        while (p < line_end && (d = hex_digit(maps_text[p])) >= 0 && digits < 16) {
            values[k] = (values[k] << 4) | (uint64_t)d;
            p++;
            digits++;
        }
        if (digits == 0) return 0;
        if (k == 0) {
            if (p >= line_end || maps_text[p] != '-') return 0;
            p++;
        }
    }
    *low = values[0];
    *high = values[1];
    // Skip the five fields (range, perms, offset, dev, inode), then the spaces before the path.
    for (int field = 0; field < 5; field++) {
        while (p < line_end && maps_text[p] != ' ') p++;
        while (p < line_end && maps_text[p] == ' ') p++;
    }
    path->start = p;
    path->length = line_end - p;
    return 1;
}

static int same_path(span_t a, span_t b) {
    return a.length == b.length && memcmp(maps_text + a.start, maps_text + b.start, a.length) == 0;
}

/// The parsed line whose mapping holds `address`, or -1 (binary search: the kernel lists the
/// mappings in address order).
static long find_line(uint64_t address) {
    size_t low = 0, high = map_line_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (address < map_lines[middle].low) {
            high = middle;
        } else if (address >= map_lines[middle].high) {
            low = middle + 1;
        } else {
            return (long)middle;
        }
    }
    return -1;
}

/// Selects the file (or anonymous mapping) each address points into.
static void select_images(const uint64_t *addresses, size_t count) {
    for (size_t n = 0; n < count; n++) {
        if (addresses[n] == 0) continue;
        long found = find_line(addresses[n]);
        if (found < 0) continue;
        const map_line_t *line = &map_lines[found];
        if (line->path.length == 0) {
            int known = 0;
            for (size_t k = 0; k < selected_line_count; k++) known |= selected_lines[k] == line->start;
            if (!known && selected_line_count < SELECTED_MAX) selected_lines[selected_line_count++] = line->start;
        } else {
            int known = 0;
            for (size_t k = 0; k < selected_path_count; k++) known |= same_path(selected_paths[k], line->path);
            if (!known && selected_path_count < SELECTED_MAX) selected_paths[selected_path_count++] = line->path;
        }
    }
}

/// Whether the line at `at` (path `path`) belongs to a selection made after the first
/// `paths_before` paths and `lines_before` lines.
static int line_selected(uint32_t at, span_t path, size_t paths_before, size_t lines_before) {
    if (path.length == 0) {
        for (size_t k = lines_before; k < selected_line_count; k++) {
            if (selected_lines[k] == at) return 1;
        }
        return 0;
    }
    for (size_t k = paths_before; k < selected_path_count; k++) {
        if (same_path(selected_paths[k], path)) return 1;
    }
    return 0;
}

/// A MAPS section of the lines of the images selected after the first `paths_before` paths and
/// `lines_before` lines, in the order of the text. Two passes: the length goes first.
static void put_selected_maps(writer_t *w, size_t paths_before, size_t lines_before) {
    uint32_t length = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (length == 0) return;
            section(w, STEWARD_CRASH_SECTION_MAPS, length);
        }
        for (size_t k = 0; k < map_line_count; k++) {
            const map_line_t *line = &map_lines[k];
            if (!line_selected(line->start, line->path, paths_before, lines_before)) continue;
            if (pass == 0) {
                length += line->end - line->start;
            } else {
                put(w, maps_text + line->start, line->end - line->start);
            }
        }
    }
}

/// The maps of the images the crashed instruction and the frame-pointer frames point into.
static void put_maps(writer_t *w, uint64_t pc) {
    read_maps();
    if (pc != 0) select_images(&pc, 1);
    select_images(walked, walked_count);
    put_selected_maps(w, 0, 0);
}

/// After the DWARF unwind: the maps of images its frames point into that the first section
/// did not hold (a second MAPS section; readers join them).
static void put_more_maps(writer_t *w) {
    size_t paths_before = selected_path_count, lines_before = selected_line_count;
    select_images(unwound + dwarf_first, dwarf_count);
    put_selected_maps(w, paths_before, lines_before);
}

static steward_crash_breadcrumb_t breadcrumbs[STEWARD_CRASH_BREADCRUMB_COUNT];
static uint8_t context_copy[STEWARD_CRASH_CONTEXT_MAX];

static uint16_t bounded(uint16_t length, size_t capacity) {
    return length <= capacity ? length : (uint16_t)capacity;
}

/// The breadcrumbs, packed: each one's fixed fields, then only the bytes of its texts (a
/// breadcrumb of a few words takes tens of bytes, not the ring slot's 500).
static void put_breadcrumbs(writer_t *w) {
    size_t count = steward_crash_copy_breadcrumbs(breadcrumbs, STEWARD_CRASH_BREADCRUMB_COUNT);
    uint32_t length = 4;
    for (size_t i = 0; i < count; i++) {
        const steward_crash_breadcrumb_t *b = &breadcrumbs[i];
        length += 15 + bounded(b->category_length, sizeof b->category) + bounded(b->message_length, sizeof b->message)
                  + bounded(b->data_length, sizeof b->data);
    }
    section(w, STEWARD_CRASH_SECTION_BREADCRUMBS_PACKED, length);
    put_u32(w, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        const steward_crash_breadcrumb_t *b = &breadcrumbs[i];
        uint16_t lengths[3] = {
            bounded(b->category_length, sizeof b->category),
            bounded(b->message_length, sizeof b->message),
            bounded(b->data_length, sizeof b->data),
        };
        put_u64(w, b->timestamp_ms);
        put(w, &b->level, 1);
        put(w, lengths, sizeof lengths);
        put(w, b->category, lengths[0]);
        put(w, b->message, lengths[1]);
        put(w, b->data, lengths[2]);
    }
}

static void put_context(writer_t *w) {
    long length = steward_crash_context_copy(context_copy);
    if (length < 0) return;
    section(w, STEWARD_CRASH_SECTION_CONTEXT, (uint32_t)length);
    put(w, context_copy, (size_t)length);
}

// MARK: - Records

int steward_crash_write_record(int signal, const siginfo_t *info, const void *context,
                               int64_t entry_ns) {
    const ucontext_t *uc = context;
    int64_t realtime_ns = steward_crash_clock_ns(CLOCK_REALTIME);
    pid_t pid = getpid();
    pid_t tid = steward_crash_gettid();

    if (atomic_load_explicit(&steward_crash_allocate_in_handler, memory_order_relaxed)) {
        // Test hook only: the malloc probe must notice this.
        void *volatile p = malloc(16);
        free(p);
    }

    writer_t *w = &record_writer;
    int started = begin(w, realtime_ns, pid, tid);
    if (started != 0) return started;

    put_signal(w, signal, info, pid, tid, realtime_ns, entry_ns);
    put_message(w);
    // A chunk of its own, on file: whatever happens next, the record says which signal struck.
    flush_chunk(w, 0);
    write_out(w);

    char name[17] = {0};
    if (prctl(PR_GET_NAME, name, 0, 0, 0) == 0) {
        size_t n = strnlen(name, 16);
        section(w, STEWARD_CRASH_SECTION_THREAD_NAME, (uint32_t)n);
        put(w, name, n);
    }
    if (uc != NULL) put_registers(w, uc);
    uint64_t pc = uc != NULL ? steward_crash_context_pc(uc) : 0;
    // The sections that cannot fault first; the DWARF unwinder last (it parses unwind tables
    // of a stack that may be wrecked): if it crashes, the record already holds the rest.
    walked_count = 0;
    if (uc != NULL) put_frame_pointer_frames(w, pc, steward_crash_context_fp(uc));
    put_breadcrumbs(w);
    put_context(w);
    section(w, STEWARD_CRASH_SECTION_INSTALL, 16);
    put_i64(w, steward_crash_install_realtime_ns);
    put_i64(w, steward_crash_install_monotonic_ns);
    put_maps(w, pc);
    // What is gathered so far goes to the file before the unwinder runs.
    flush_chunk(w, 0);
    write_out(w);
    dwarf_first = 0;
    dwarf_count = 0;
    put_dwarf_frames(w, pc);
    put_more_maps(w);
    int64_t elapsed = steward_crash_clock_ns(CLOCK_MONOTONIC) - entry_ns;
    section(w, STEWARD_CRASH_SECTION_TIMING, 8);
    put_u64(w, (uint64_t)(elapsed > 0 ? elapsed : 1));
    int failed = w->failed;
    finish(w);
    return failed;
}

void steward_crash_write_nested_record(int signal, const siginfo_t *info) {
    // Keep what the interrupted record had gathered: flush its buffer and close it (it has no
    // END, so it reads as partial).
    if (record_writer.fd >= 0) abandon(&record_writer);
    writer_t *w = &nested_writer;
    int64_t realtime_ns = steward_crash_clock_ns(CLOCK_REALTIME);
    pid_t pid = getpid();
    pid_t tid = steward_crash_gettid();
    if (begin(w, realtime_ns, pid, tid) != 0) return;
    put_signal(w, signal, info, pid, tid, realtime_ns, steward_crash_clock_ns(CLOCK_MONOTONIC));
    section(w, STEWARD_CRASH_SECTION_NESTED, 4);
    put_i32(w, signal);
    finish(w);
}
