// CStewardCrash: the only code of Steward that runs inside a signal handler.
//
// Everything here that the handler touches is preallocated at install time; the handler
// allocates nothing, takes no lock and calls only async-signal-safe functions (open, write,
// fsync, close, read, clock_gettime, syscall, sigaction, raise, _exit) plus the unwinder,
// which install() warms up. The record it writes is described in
// Documentation/CrashRecordFormat.md; StewardCrash (Swift) reads it on the next launch.
#ifndef STEWARD_CRASH_H
#define STEWARD_CRASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The most bytes of context (a JSON blob serialised by Swift) a record carries.
#define STEWARD_CRASH_CONTEXT_MAX 16384
/// Breadcrumbs kept (the last ones win).
#define STEWARD_CRASH_BREADCRUMB_COUNT 100
#define STEWARD_CRASH_BREADCRUMB_CATEGORY_MAX 32
#define STEWARD_CRASH_BREADCRUMB_MESSAGE_MAX 256
#define STEWARD_CRASH_BREADCRUMB_DATA_MAX 192
/// The most frames a record holds per unwinding method.
#define STEWARD_CRASH_FRAMES_MAX 128
/// The most bytes of the Swift runtime's fatal error message a record carries.
#define STEWARD_CRASH_MESSAGE_MAX 4096
/// The size of each alternate signal stack.
#define STEWARD_CRASH_ALTSTACK_SIZE (64 * 1024)

/// Record sections (u32 tag, u32 length, payload; little-endian; see the format document).
enum {
    STEWARD_CRASH_SECTION_SIGNAL = 1,
    STEWARD_CRASH_SECTION_THREAD_NAME = 2,
    STEWARD_CRASH_SECTION_REGISTERS = 3,
    STEWARD_CRASH_SECTION_FRAMES = 4,
    STEWARD_CRASH_SECTION_MAPS = 5,
    STEWARD_CRASH_SECTION_BREADCRUMBS = 6,
    STEWARD_CRASH_SECTION_CONTEXT = 7,
    STEWARD_CRASH_SECTION_TIMING = 8,
    STEWARD_CRASH_SECTION_NESTED = 9,
    STEWARD_CRASH_SECTION_INSTALL = 10,
    STEWARD_CRASH_SECTION_BREADCRUMBS_PACKED = 11,
    STEWARD_CRASH_SECTION_MESSAGE = 12,
    STEWARD_CRASH_SECTION_END = 0xFFFF,
};

/// Frame sources in a FRAMES section.
enum {
    STEWARD_CRASH_FRAMES_DWARF = 1,
    STEWARD_CRASH_FRAMES_FRAME_POINTER = 2,
};

/// One breadcrumb as stored in the ring and copied into a record (fixed size).
typedef struct {
    uint64_t timestamp_ms;     // wall clock, milliseconds since 1970
    uint8_t level;             // 0 debug, 1 info, 2 warning, 3 error, 4 fatal
    uint8_t reserved[3];
    uint16_t category_length;
    uint16_t message_length;
    uint16_t data_length;      // data: "key=value\n" lines, already scrubbed by Swift
    uint16_t reserved2;
    char category[STEWARD_CRASH_BREADCRUMB_CATEGORY_MAX];
    char message[STEWARD_CRASH_BREADCRUMB_MESSAGE_MAX];
    char data[STEWARD_CRASH_BREADCRUMB_DATA_MAX];
} steward_crash_breadcrumb_t;

/// Installs the handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT and SIGTRAP
/// (SA_SIGINFO | SA_ONSTACK | SA_NODEFER), saving the previous ones, gives the calling thread an alternate
/// stack, opens `directory` (which must exist, 0700) for records and warms up the unwinder.
/// Returns 0, or an errno value (EALREADY when installed already).
int steward_crash_install(const char *directory);

/// Restores the previous handlers and closes the folder (for tests and shutdown). The
/// alternate stacks stay. Returns 0, or EINVAL when not installed.
int steward_crash_uninstall(void);

/// Whether the handlers are installed.
int steward_crash_is_installed(void);

/// Turns writing records on or off (off while crash reporting is denied, or pending under a
/// policy that keeps nothing on disk: a crash then leaves nothing; the previous handlers still
/// run). Off until the first call: consent decides before anything is written.
void steward_crash_set_recording(int enabled);

/// Turns capturing the Swift runtime's fatal error message on or off. On, the handler copies
/// the message the runtime published for the crash reporter (`swift_getFatalErrorMessageBuffer`
/// of libswiftCore: `fatalError`, `precondition` and the runtime's own failures such as "Index
/// out of range" or a failed cast, as far as the build keeps their messages) into a MESSAGE
/// section, reading it without faulting. Looks the runtime up with dlsym (not signal-safe: call
/// it outside the handler, at install). Returns 1 when the runtime offers the buffer, else 0
/// (capturing then stays off). Off until the first call.
int steward_crash_set_fatal_message_capture(int enabled);

/// The version of the sealed record file the handler writes (see the format document).
#define STEWARD_CRASH_SEALED_VERSION 2
/// The plaintext file header of a sealed record: magic, version, flags, salt, pid, record number.
#define STEWARD_CRASH_SEALED_HEADER 40
/// The most plaintext bytes one sealed chunk carries.
#define STEWARD_CRASH_CHUNK_MAX 4096

/// Sets the key records are sealed with (ChaCha20-Poly1305 per chunk) and the salt it was
/// derived with (written in each record's header, so the next launch derives the key again
/// from the vault). Copied into static memory. Without a key no record is written at all:
/// nothing of a crash is ever on disk in plaintext.
void steward_crash_set_record_key(const uint8_t key[32], const uint8_t salt[16]);

/// Forgets the key (zeroes it); records stop until a key is set again.
void steward_crash_clear_record_key(void);

/// ChaCha20-Poly1305 (RFC 8439) in place: encrypts `data` and writes the tag. What the
/// handler seals its chunks with; exposed for the tests' cross-check against OpenSSL.
void steward_crash_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad, size_t aad_length,
                        uint8_t *data, size_t length, uint8_t tag[16]);

/// Gives the calling thread its own alternate signal stack (mmap, once per thread), so a
/// stack overflow on it is still reported. Returns 0 or an errno value.
int steward_crash_prepare_thread(void);

/// Whether the calling thread has an alternate signal stack of at least
/// STEWARD_CRASH_ALTSTACK_SIZE bytes (its own, or one someone else gave it).
int steward_crash_thread_prepared(void);

/// Opt-in (1) or out (0): the Swift concurrency pool's jobs are routed through
/// `swift_task_enqueueGlobal_hook`, so each worker thread gets its alternate signal stack before
/// it runs a job. Returns 0, ENOSYS when the runtime has no such hook, or EBUSY when another
/// hook is set (it is left in place). Turning it off leaves the hook alone unless it is ours.
int steward_crash_prepare_concurrency_threads(int enable);

/// How many jobs were routed so far (for tests and measurements).
uint64_t steward_crash_concurrency_jobs_routed(void);

/// Replaces the context blob the next record carries (copied; at most
/// STEWARD_CRASH_CONTEXT_MAX bytes, longer blobs are refused with EMSGSIZE). Safe to call from
/// any thread at any time; never blocks the handler.
int steward_crash_set_context(const void *bytes, size_t length);

/// Adds a breadcrumb to the ring: lock-free, no allocation; texts are truncated to fit.
void steward_crash_add_breadcrumb(uint64_t timestamp_ms, uint8_t level, const char *category,
                                  const char *message, const char *data);

/// Copies the breadcrumbs in the ring, oldest first, into `out` (room for `capacity`);
/// returns how many were copied. For non-fatal reports, from Swift.
size_t steward_crash_copy_breadcrumbs(steward_crash_breadcrumb_t *out, size_t capacity);

/// Where the breadcrumb ring stands: breadcrumbs added so far. A handled error notes it on the
/// caller's thread and copies later, off that thread, only what came before
/// (steward_crash_copy_breadcrumbs_before).
uint64_t steward_crash_breadcrumb_position(void);

/// Like steward_crash_copy_breadcrumbs, but only the breadcrumbs added before `position`
/// (those of them still in the ring).
size_t steward_crash_copy_breadcrumbs_before(steward_crash_breadcrumb_t *out, size_t capacity, uint64_t position);

/// The calling thread's return addresses, innermost first (this function's caller first): at
/// most `capacity`. Returns the count. Walks the frame pointers within the thread's stack
/// (bounded, cannot fault); the DWARF unwinder (_Unwind_Backtrace) where the stack's bounds are
/// unknown. Not for signal handlers (the crash handler has its own, preallocated).
int steward_crash_capture_stack(uint64_t *out, int capacity);

/// The calling thread's kernel id (gettid).
int64_t steward_crash_thread_id(void);

/// The calling thread's name (PR_GET_NAME, at most 15 bytes) into `out`, NUL-terminated;
/// returns its length, or -1.
int steward_crash_thread_name(char *out, size_t capacity);

/// A number that changes whenever a shared object is loaded or unloaded (dl_iterate_phdr's
/// dlpi_adds and dlpi_subs), so a cached list of loaded images is known to be current.
uint64_t steward_crash_image_generation(void);

/// An extended attribute of `path` (lgetxattr: a symbolic link's own), into `out`; returns its
/// length or -1 (errno set). For the next launch reading systemd-coredump's `user.coredump.*`;
/// never called by the handler.
long steward_crash_read_xattr(const char *path, const char *name, void *out, size_t capacity);

/// Whether the calling thread is inside the crash handler's record writer right now (for the
/// malloc probe of the tests: other threads of a crashing process may still allocate, and the
/// previous handlers we chain to are not ours to police).
int steward_crash_handler_active(void);

/// Test hook: when set, the handler calls malloc once, so the tests can show that their
/// allocation probe notices it. Never set outside tests.
void steward_crash_test_allocate_in_handler(int enabled);

/// Test hook: runs the handler's record writer for `signal` without a crash (no chaining,
/// no exit), as if `signal` had arrived on this thread; returns 0 or an errno value (ENOKEY
/// without a record key). Like the handler, it writes nothing while recording is off.
int steward_crash_test_write_record(int signal);

#ifdef __cplusplus
}
#endif

#include "CStewardCrashTrigger.h"
#include "CStewardCrashHang.h"

#endif
