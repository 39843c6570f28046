// The Secret Service through libsecret, loaded at first use: see include/CStewardSecret.h.
//
// glib and libsecret are not included: the few types used are declared here as their headers
// declare them (stable ABI since libsecret 0.18), so building Steward needs no -dev package.
#include "CStewardSecret.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

// MARK: - The glib and libsecret declarations used

typedef int gboolean;
typedef uint32_t GQuark;
typedef struct {
    GQuark domain;
    int code;
    char *message;
} GError;
typedef struct GList {
    void *data;
    struct GList *next;
    struct GList *prev;
} GList;
typedef struct GHashTable GHashTable;
typedef struct SecretService SecretService;
typedef struct SecretCollection SecretCollection;
typedef struct SecretItem SecretItem;
typedef struct SecretValue SecretValue;
typedef unsigned int (*GHashFunc)(const void *);
typedef gboolean (*GEqualFunc)(const void *, const void *);

typedef struct {
    const char *name;
    int type;  // SecretSchemaAttributeType: 0 is a string
} SecretSchemaAttribute;

typedef struct {
    const char *name;
    int flags;  // SecretSchemaFlags
    SecretSchemaAttribute attributes[32];
    int reserved;
    void *reserved1, *reserved2, *reserved3, *reserved4, *reserved5, *reserved6, *reserved7;
} SecretSchema;

enum {
    SECRET_SERVICE_OPEN_SESSION = 1 << 1,
    SECRET_SEARCH_ALL = 1 << 1,
    SECRET_SEARCH_LOAD_SECRETS = 1 << 3,
    SECRET_ERROR_IS_LOCKED = 2,
};

static const SecretSchema steward_schema = {
    "org.steward.Key",
    0,
    {{"steward-application", 0}, {"steward-scope", 0}, {"steward-key", 0}, {NULL, 0}},
    0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

// MARK: - Loading

static struct {
    SecretService *(*service_get_sync)(int flags, void *cancellable, GError **error);
    GList *(*service_search_sync)(
        SecretService *service, const SecretSchema *schema, GHashTable *attributes, int flags, void *cancellable,
        GError **error);
    SecretCollection *(*collection_for_alias_sync)(
        SecretService *service, const char *alias, int flags, void *cancellable, GError **error);
    gboolean (*collection_get_locked)(SecretCollection *collection);
    SecretItem *(*item_create_sync)(
        SecretCollection *collection, const SecretSchema *schema, GHashTable *attributes, const char *label,
        SecretValue *value, int flags, void *cancellable, GError **error);
    gboolean (*item_delete_sync)(SecretItem *item, void *cancellable, GError **error);
    gboolean (*item_get_locked)(SecretItem *item);
    uint64_t (*item_get_created)(SecretItem *item);
    SecretValue *(*item_get_secret)(SecretItem *item);
    SecretValue *(*value_new)(const char *secret, ptrdiff_t length, const char *content_type);
    const char *(*value_get)(SecretValue *value, size_t *length);
    void (*value_unref)(void *value);
    GQuark (*error_get_quark)(void);
    const char *(*proxy_get_object_path)(void *proxy);
    GHashTable *(*hash_table_new)(GHashFunc hash, GEqualFunc equal);
    gboolean (*hash_table_insert)(GHashTable *table, void *key, void *value);
    void (*hash_table_unref)(GHashTable *table);
    GHashFunc str_hash;
    GEqualFunc str_equal;
    void (*list_free)(GList *list);
    void (*object_unref)(void *object);
    void (*error_free)(GError *error);
} lib;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;  // 1 when every function was found
static char load_problem[256];
// libsecret's sync calls are safe from any thread; one at a time keeps the item races ours.
static pthread_mutex_t calls = PTHREAD_MUTEX_INITIALIZER;

static void load(void) {
    void *handle = dlopen("libsecret-1.so.0", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        snprintf(load_problem, sizeof load_problem, "%s", why ? why : "libsecret-1.so.0 could not be loaded");
        return;
    }
    struct {
        void **slot;
        const char *name;
    } symbols[] = {
        {(void **)&lib.service_get_sync, "secret_service_get_sync"},
        {(void **)&lib.service_search_sync, "secret_service_search_sync"},
        {(void **)&lib.collection_for_alias_sync, "secret_collection_for_alias_sync"},
        {(void **)&lib.collection_get_locked, "secret_collection_get_locked"},
        {(void **)&lib.item_create_sync, "secret_item_create_sync"},
        {(void **)&lib.item_delete_sync, "secret_item_delete_sync"},
        {(void **)&lib.item_get_locked, "secret_item_get_locked"},
        {(void **)&lib.item_get_created, "secret_item_get_created"},
        {(void **)&lib.item_get_secret, "secret_item_get_secret"},
        {(void **)&lib.value_new, "secret_value_new"},
        {(void **)&lib.value_get, "secret_value_get"},
        {(void **)&lib.value_unref, "secret_value_unref"},
        {(void **)&lib.error_get_quark, "secret_error_get_quark"},
        // glib, gobject and gio: libsecret's own dependencies, found through its handle.
        {(void **)&lib.proxy_get_object_path, "g_dbus_proxy_get_object_path"},
        {(void **)&lib.hash_table_new, "g_hash_table_new"},
        {(void **)&lib.hash_table_insert, "g_hash_table_insert"},
        {(void **)&lib.hash_table_unref, "g_hash_table_unref"},
        {(void **)&lib.str_hash, "g_str_hash"},
        {(void **)&lib.str_equal, "g_str_equal"},
        {(void **)&lib.list_free, "g_list_free"},
        {(void **)&lib.object_unref, "g_object_unref"},
        {(void **)&lib.error_free, "g_error_free"},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        *symbols[i].slot = dlsym(handle, symbols[i].name);
        if (*symbols[i].slot == NULL) {
            snprintf(load_problem, sizeof load_problem, "libsecret-1.so.0 has no %s", symbols[i].name);
            return;  // the handle stays open: unloading glib is never safe
        }
    }
    loaded = 1;
}

// MARK: - Helpers

static void say(steward_secret_error *error, const char *what, const GError *cause) {
    if (error == NULL) return;
    if (cause != NULL && cause->message != NULL) {
        snprintf(error->message, sizeof error->message, "%s: %s", what, cause->message);
    } else {
        snprintf(error->message, sizeof error->message, "%s", what);
    }
}

/// The status for a failed call: locked when libsecret says so, else `otherwise`.
static steward_secret_status failure(
    steward_secret_error *error, const char *what, GError *cause, steward_secret_status otherwise) {
    say(error, what, cause);
    steward_secret_status status = otherwise;
    if (cause != NULL && cause->domain == lib.error_get_quark() && cause->code == SECRET_ERROR_IS_LOCKED) {
        status = STEWARD_SECRET_LOCKED;
    }
    if (cause != NULL) lib.error_free(cause);
    return status;
}

/// Loads libsecret and gets the service (a reference the caller releases).
static steward_secret_status begin(SecretService **service, steward_secret_error *error) {
    pthread_once(&load_once, load);
    if (!loaded) {
        say(error, load_problem, NULL);
        return STEWARD_SECRET_NO_LIBRARY;
    }
    GError *cause = NULL;
    *service = lib.service_get_sync(SECRET_SERVICE_OPEN_SESSION, NULL, &cause);
    if (*service == NULL) {
        return failure(error, "the Secret Service cannot be reached", cause, STEWARD_SECRET_NO_SERVICE);
    }
    if (cause != NULL) lib.error_free(cause);
    return STEWARD_SECRET_OK;
}

/// The attributes an item is found by (scope and key), and with `stored` the application too.
static GHashTable *attributes(steward_secret_item item, int stored) {
    GHashTable *table = lib.hash_table_new(lib.str_hash, lib.str_equal);
    // The table does not own its strings: they outlive every call that uses it.
    if (stored) lib.hash_table_insert(table, (void *)"steward-application", (void *)item.application);
    lib.hash_table_insert(table, (void *)"steward-scope", (void *)item.scope);
    lib.hash_table_insert(table, (void *)"steward-key", (void *)item.name);
    return table;
}

static void free_items(GList *items) {
    for (GList *l = items; l != NULL; l = l->next) lib.object_unref(l->data);
    lib.list_free(items);
}

/// Whether `a` comes before `b`: created earlier, then the shorter, then the lower path.
static int earlier(SecretItem *a, SecretItem *b) {
    uint64_t ca = lib.item_get_created(a), cb = lib.item_get_created(b);
    if (ca != cb) return ca < cb;
    const char *pa = lib.proxy_get_object_path(a), *pb = lib.proxy_get_object_path(b);
    if (pa == NULL || pb == NULL) return pa != NULL;
    size_t la = strlen(pa), lb = strlen(pb);
    if (la != lb) return la < lb;
    return strcmp(pa, pb) < 0;
}

/// Searches the matching items (with their secrets); fails as locked when one is locked.
static steward_secret_status search(
    SecretService *service, steward_secret_item item, GList **items, steward_secret_error *error) {
    GHashTable *table = attributes(item, 0);
    GError *cause = NULL;
    *items = lib.service_search_sync(
        service, &steward_schema, table, SECRET_SEARCH_ALL | SECRET_SEARCH_LOAD_SECRETS, NULL, &cause);
    lib.hash_table_unref(table);
    if (cause != NULL) {
        free_items(*items);
        *items = NULL;
        return failure(error, "searching the keyring failed", cause, STEWARD_SECRET_FAILED);
    }
    for (GList *l = *items; l != NULL; l = l->next) {
        if (lib.item_get_locked(l->data)) {
            say(error, "the keyring item is locked", NULL);
            return STEWARD_SECRET_LOCKED;
        }
    }
    return *items == NULL ? STEWARD_SECRET_NOT_FOUND : STEWARD_SECRET_OK;
}

/// The first item by `earlier`.
static SecretItem *first(GList *items) {
    SecretItem *best = NULL;
    for (GList *l = items; l != NULL; l = l->next) {
        if (best == NULL || earlier(l->data, best)) best = l->data;
    }
    return best;
}

static steward_secret_status copy_secret(
    SecretItem *item, unsigned char *out, size_t capacity, size_t *length, steward_secret_error *error) {
    SecretValue *value = lib.item_get_secret(item);
    if (value == NULL) {
        say(error, "the keyring item's secret could not be loaded", NULL);
        return STEWARD_SECRET_FAILED;
    }
    size_t size = 0;
    const char *bytes = lib.value_get(value, &size);
    *length = size;
    steward_secret_status status = STEWARD_SECRET_OK;
    if (bytes == NULL || size > capacity) {
        say(error, "the keyring item's secret is longer than any Steward stores", NULL);
        status = STEWARD_SECRET_TOO_LONG;
    } else if (size > 0) {
        memcpy(out, bytes, size);
    }
    lib.value_unref(value);  // libsecret wipes its secure memory
    return status;
}

// MARK: - Calls

steward_secret_status steward_secret_probe(steward_secret_error *error) {
    pthread_mutex_lock(&calls);
    SecretService *service = NULL;
    steward_secret_status status = begin(&service, error);
    if (service != NULL) lib.object_unref(service);
    pthread_mutex_unlock(&calls);
    return status;
}

steward_secret_status steward_secret_lookup(
    steward_secret_item item, unsigned char *out, size_t capacity, size_t *length, steward_secret_error *error) {
    pthread_mutex_lock(&calls);
    *length = 0;
    SecretService *service = NULL;
    steward_secret_status status = begin(&service, error);
    if (status == STEWARD_SECRET_OK) {
        GList *items = NULL;
        status = search(service, item, &items, error);
        if (status == STEWARD_SECRET_OK) status = copy_secret(first(items), out, capacity, length, error);
        free_items(items);
        lib.object_unref(service);
    }
    pthread_mutex_unlock(&calls);
    return status;
}

steward_secret_status steward_secret_create(
    steward_secret_item item, const char *label, const unsigned char *secret, size_t secret_length,
    unsigned char *out, size_t capacity, size_t *length, steward_secret_error *error) {
    pthread_mutex_lock(&calls);
    *length = 0;
    SecretService *service = NULL;
    steward_secret_status status = begin(&service, error);
    if (status != STEWARD_SECRET_OK) goto done;

    GError *cause = NULL;
    SecretCollection *collection = lib.collection_for_alias_sync(service, "default", 0, NULL, &cause);
    if (collection == NULL) {
        status = cause != NULL
            ? failure(error, "the keyring's default collection cannot be opened", cause, STEWARD_SECRET_FAILED)
            : STEWARD_SECRET_NO_COLLECTION;
        if (cause == NULL) say(error, "the Secret Service has no default collection (keyring)", NULL);
        goto release;
    }
    // Checked first: creating in a locked collection would ask the user to unlock it.
    if (lib.collection_get_locked(collection)) {
        say(error, "the default keyring is locked", NULL);
        status = STEWARD_SECRET_LOCKED;
        lib.object_unref(collection);
        goto release;
    }
    SecretValue *value = lib.value_new((const char *)secret, (ptrdiff_t)secret_length, "text/plain");
    GHashTable *table = attributes(item, 1);
    SecretItem *created = lib.item_create_sync(collection, &steward_schema, table, label, value, 0, NULL, &cause);
    lib.hash_table_unref(table);
    lib.value_unref(value);
    lib.object_unref(collection);
    if (created == NULL) {
        status = failure(error, "the keyring item could not be created", cause, STEWARD_SECRET_FAILED);
        goto release;
    }
    // Another process may have created one at the same time: every creator keeps the first.
    GList *items = NULL;
    status = search(service, item, &items, error);
    if (status == STEWARD_SECRET_OK) {
        SecretItem *winner = first(items);
        const char *ours = lib.proxy_get_object_path(created);
        const char *theirs = lib.proxy_get_object_path(winner);
        status = copy_secret(winner, out, capacity, length, error);
        if (status == STEWARD_SECRET_OK && ours != NULL && theirs != NULL && strcmp(ours, theirs) != 0) {
            lib.item_delete_sync(created, NULL, NULL);  // a duplicate nobody uses; best effort
        }
    } else if (status == STEWARD_SECRET_NOT_FOUND) {
        say(error, "the keyring item vanished right after it was created", NULL);
        status = STEWARD_SECRET_FAILED;
    }
    free_items(items);
    lib.object_unref(created);
release:
    lib.object_unref(service);
done:
    pthread_mutex_unlock(&calls);
    return status;
}

steward_secret_status steward_secret_clear(steward_secret_item item, steward_secret_error *error) {
    pthread_mutex_lock(&calls);
    SecretService *service = NULL;
    steward_secret_status status = begin(&service, error);
    if (status == STEWARD_SECRET_OK) {
        GList *items = NULL;
        status = search(service, item, &items, error);
        for (GList *l = items; status == STEWARD_SECRET_OK && l != NULL; l = l->next) {
            GError *cause = NULL;
            if (!lib.item_delete_sync(l->data, NULL, &cause)) {
                status = failure(error, "the keyring item could not be deleted", cause, STEWARD_SECRET_FAILED);
            }
        }
        free_items(items);
        lib.object_unref(service);
    }
    pthread_mutex_unlock(&calls);
    return status;
}
