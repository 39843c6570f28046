// CStewardSecret: the Secret Service (GNOME Keyring, KWallet) through libsecret, loaded with
// dlopen("libsecret-1.so.0") at first use and never linked: a host without glib or libsecret
// runs Steward all the same, and only a key provider that needs the keyring reports it missing.
//
// Four synchronous calls, imported by StewardCore's SecretServiceKeyProvider only. None of them
// prompts: a locked item or collection is reported as STEWARD_SECRET_LOCKED, never unlocked.
// Items use the schema "org.steward.Key" with three string attributes (steward-application,
// steward-scope, steward-key) and are found by the last two; secrets are short text, copied out
// into the caller's buffer.
#ifndef STEWARD_SECRET_H
#define STEWARD_SECRET_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    STEWARD_SECRET_OK = 0,
    /// No item matches (lookup, destroy: nothing to do).
    STEWARD_SECRET_NOT_FOUND = 1,
    /// libsecret-1.so.0 (or one of its functions) could not be loaded.
    STEWARD_SECRET_NO_LIBRARY = 2,
    /// The session bus or the Secret Service on it cannot be reached.
    STEWARD_SECRET_NO_SERVICE = 3,
    /// A matching item, or the default collection, is locked.
    STEWARD_SECRET_LOCKED = 4,
    /// The service has no default collection to create an item in.
    STEWARD_SECRET_NO_COLLECTION = 5,
    /// The stored secret is longer than the caller's buffer (`length` says how long).
    STEWARD_SECRET_TOO_LONG = 6,
    /// Any other failure; the message says what.
    STEWARD_SECRET_FAILED = 7,
} steward_secret_status;

/// What went wrong, as libsecret or glib said it (truncated, NUL-terminated).
typedef struct {
    char message[512];
} steward_secret_error;

/// The identity of one item: which program (stored, not matched), which set of keys, which key.
typedef struct {
    const char *application;
    const char *scope;
    const char *name;
} steward_secret_item;

/// Loads libsecret (once) and opens the Secret Service over the process's session bus.
steward_secret_status steward_secret_probe(steward_secret_error *error);

/// Copies the secret of the item into `out` (at most `capacity` bytes; `*length` is the
/// secret's length, also when it does not fit). When several items match (two processes
/// created one at once), the earliest created (then the lowest object path) is the one.
steward_secret_status steward_secret_lookup(
    steward_secret_item item, unsigned char *out, size_t capacity, size_t *length, steward_secret_error *error);

/// Creates an item holding `secret` in the default collection (never replacing one), then
/// copies out the secret of the item that lookup would now return, and deletes the one it
/// created if another process's won. `label` is what a keyring manager shows.
steward_secret_status steward_secret_create(
    steward_secret_item item, const char *label, const unsigned char *secret, size_t secret_length,
    unsigned char *out, size_t capacity, size_t *length, steward_secret_error *error);

/// Deletes every item that matches; STEWARD_SECRET_NOT_FOUND when there was none. Nothing is
/// deleted when one of them is locked.
steward_secret_status steward_secret_clear(steward_secret_item item, steward_secret_error *error);

#ifdef __cplusplus
}
#endif

#endif
