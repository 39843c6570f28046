// See CStewardDwarf.h. elfutils' libdw is loaded with dlopen; the types below are the public
// layouts of libdw.h and libdwfl.h (libdw.so.1's ABI, unchanged since elfutils 0.122), so that
// building needs no elfutils headers.
#define _GNU_SOURCE
#include "CStewardDwarf.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef uint64_t Dwarf_Addr;
typedef uint64_t Dwarf_Word;
typedef struct Dwfl Dwfl;
typedef struct Dwfl_Module Dwfl_Module;
typedef struct Dwarf_Line Dwarf_Line;
typedef struct Dwarf Dwarf;
typedef struct Dwarf_Files Dwarf_Files;
typedef struct {
    void *addr;
    void *cu;
    void *abbrev;
    long int padding__;
} Dwarf_Die;
typedef struct {
    unsigned int code;
    unsigned int form;
    unsigned char *valp;
    void *cu;
} Dwarf_Attribute;
typedef struct {
    int (*find_elf)(Dwfl_Module *, void **, const char *, Dwarf_Addr, char **, void **);
    int (*find_debuginfo)(
        Dwfl_Module *, void **, const char *, Dwarf_Addr, const char *, const char *, uint32_t, char **);
    int (*section_address)(
        Dwfl_Module *, void **, const char *, Dwarf_Addr, const char *, uint32_t, const void *, Dwarf_Addr *);
    char **debuginfo_path;
} Dwfl_Callbacks;

enum {
    TAG_inlined_subroutine = 0x1d,
    TAG_subprogram = 0x2e,
    AT_name = 0x03,
    AT_call_column = 0x57,
    AT_call_file = 0x58,
    AT_call_line = 0x59,
    AT_linkage_name = 0x6e,
    AT_MIPS_linkage_name = 0x2007,
};

static struct {
    Dwfl *(*begin)(const Dwfl_Callbacks *);
    void (*end)(Dwfl *);
    void (*report_begin)(Dwfl *);
    Dwfl_Module *(*report_elf)(Dwfl *, const char *, const char *, int, Dwarf_Addr, bool);
    int (*report_end)(Dwfl *, void *, void *);
    Dwarf *(*module_getdwarf)(Dwfl_Module *, Dwarf_Addr *);
    Dwarf_Die *(*module_addrdie)(Dwfl_Module *, Dwarf_Addr, Dwarf_Addr *);
    int (*getscopes)(Dwarf_Die *, Dwarf_Addr, Dwarf_Die **);
    int (*tag)(Dwarf_Die *);
    Dwarf_Attribute *(*attr_integrate)(Dwarf_Die *, unsigned int, Dwarf_Attribute *);
    Dwarf_Attribute *(*attr)(Dwarf_Die *, unsigned int, Dwarf_Attribute *);
    const char *(*formstring)(Dwarf_Attribute *);
    int (*formudata)(Dwarf_Attribute *, Dwarf_Word *);
    int (*getsrcfiles)(Dwarf_Die *, Dwarf_Files **, size_t *);
    const char *(*filesrc)(Dwarf_Files *, size_t, Dwarf_Word *, Dwarf_Word *);
    void *offline_section_address;
    int (*nextcu)(Dwarf *, uint64_t, uint64_t *, size_t *, uint64_t *, uint8_t *, uint8_t *);
    Dwarf_Die *(*offdie)(Dwarf *, uint64_t, Dwarf_Die *);
    int (*haspc)(Dwarf_Die *, Dwarf_Addr);
    Dwarf_Line *(*getsrc_die)(Dwarf_Die *, Dwarf_Addr);
    const char *(*linesrc)(Dwarf_Line *, Dwarf_Word *, Dwarf_Word *);
    int (*lineno)(Dwarf_Line *, int *);
    int (*linecol)(Dwarf_Line *, int *);
} lib;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;  // 1 when every function was found

static int no_elf(Dwfl_Module *, void **, const char *, Dwarf_Addr, char **, void **);
static int no_debuginfo(Dwfl_Module *, void **, const char *, Dwarf_Addr, const char *, const char *, uint32_t, char **);
// Set once by load(); libdw keeps a pointer to it for each session.
static Dwfl_Callbacks callbacks = {no_elf, no_debuginfo, NULL, NULL};

static void load(void) {
    void *handle = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) return;
    struct {
        void **slot;
        const char *name;
        const char *version;  // for symbols with more than one version
    } symbols[] = {
        {(void **)&lib.begin, "dwfl_begin", NULL},
        {(void **)&lib.end, "dwfl_end", NULL},
        {(void **)&lib.report_begin, "dwfl_report_begin", NULL},
        // The six-argument form (0.156); 0.122's had no add_p_vaddr.
        {(void **)&lib.report_elf, "dwfl_report_elf", "ELFUTILS_0.156"},
        {(void **)&lib.report_end, "dwfl_report_end", NULL},
        {(void **)&lib.module_getdwarf, "dwfl_module_getdwarf", NULL},
        {(void **)&lib.module_addrdie, "dwfl_module_addrdie", NULL},
        {(void **)&lib.getscopes, "dwarf_getscopes", NULL},
        {(void **)&lib.tag, "dwarf_tag", NULL},
        {(void **)&lib.attr_integrate, "dwarf_attr_integrate", NULL},
        {(void **)&lib.attr, "dwarf_attr", NULL},
        {(void **)&lib.formstring, "dwarf_formstring", NULL},
        {(void **)&lib.formudata, "dwarf_formudata", NULL},
        {(void **)&lib.getsrcfiles, "dwarf_getsrcfiles", NULL},
        {(void **)&lib.filesrc, "dwarf_filesrc", NULL},
        {(void **)&lib.offline_section_address, "dwfl_offline_section_address", NULL},
        {(void **)&lib.nextcu, "dwarf_nextcu", NULL},
        {(void **)&lib.offdie, "dwarf_offdie", NULL},
        {(void **)&lib.haspc, "dwarf_haspc", NULL},
        {(void **)&lib.getsrc_die, "dwarf_getsrc_die", NULL},
        {(void **)&lib.linesrc, "dwarf_linesrc", NULL},
        {(void **)&lib.lineno, "dwarf_lineno", NULL},
        {(void **)&lib.linecol, "dwarf_linecol", NULL},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        *symbols[i].slot = symbols[i].version != NULL ? dlvsym(handle, symbols[i].name, symbols[i].version)
                                                      : dlsym(handle, symbols[i].name);
        if (*symbols[i].slot == NULL) return;  // the handle stays open: libdw may hold state
    }
    callbacks.section_address = (int (*)(
        Dwfl_Module *, void **, const char *, Dwarf_Addr, const char *, uint32_t, const void *,
        Dwarf_Addr *))lib.offline_section_address;
    loaded = 1;
}

int steward_dwarf_available(void) {
    pthread_once(&load_once, load);
    return loaded;
}

struct steward_dwarf {
    Dwfl *dwfl;
    Dwfl_Module *module;
    Dwarf *dwarf;
    Dwarf_Addr bias;
};

// Files are reported by path (find_elf is never called for them). Separate debug files
// (.gnu_debuglink, /usr/lib/debug, debuginfod) are deliberately not looked for: the next
// launch reads only the mapped file, and never the network.
static int no_elf(Dwfl_Module *module, void **userdata, const char *name, Dwarf_Addr base, char **file, void **elf) {
    (void)module, (void)userdata, (void)name, (void)base, (void)file, (void)elf;
    return -1;
}

static int no_debuginfo(
    Dwfl_Module *module, void **userdata, const char *name, Dwarf_Addr base, const char *file, const char *link,
    uint32_t crc, char **debuginfo) {
    (void)module, (void)userdata, (void)name, (void)base, (void)file, (void)link, (void)crc, (void)debuginfo;
    return -1;
}

steward_dwarf *steward_dwarf_open(const char *path) {
    if (path == NULL || !steward_dwarf_available()) return NULL;
    steward_dwarf *handle = calloc(1, sizeof *handle);
    if (handle == NULL) return NULL;
    handle->dwfl = lib.begin(&callbacks);
    if (handle->dwfl == NULL) {
        free(handle);
        return NULL;
    }
    lib.report_begin(handle->dwfl);
    // O_NONBLOCK: a path swapped for a FIFO since the caller's check must not block the
    // worker; only a regular file is handed to libdw.
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat info;
    if (fd >= 0 && (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode))) {
        close(fd);
        fd = -1;
    }
    if (fd >= 0) {
        // Base 0 relative to the program headers: the module's addresses are the file's own.
        handle->module = lib.report_elf(handle->dwfl, path, path, fd, 0, true);
        if (handle->module == NULL) close(fd);  // consumed by libdw only on success
    }
    lib.report_end(handle->dwfl, NULL, NULL);
    if (handle->module != NULL) handle->dwarf = lib.module_getdwarf(handle->module, &handle->bias);
    if (handle->dwarf == NULL) {
        steward_dwarf_close(handle);
        return NULL;
    }
    return handle;
}

void steward_dwarf_close(steward_dwarf *handle) {
    if (handle == NULL) return;
    if (handle->dwfl != NULL) lib.end(handle->dwfl);
    free(handle);
}

/// The name of a subprogram or inlined call: its linkage name (mangled; Swift demangles it),
/// else its name, following DW_AT_abstract_origin and DW_AT_specification.
static const char *die_name(Dwarf_Die *die) {
    Dwarf_Attribute attribute;
    const unsigned int names[] = {AT_linkage_name, AT_MIPS_linkage_name, AT_name};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (lib.attr_integrate(die, names[i], &attribute) != NULL) {
            const char *name = lib.formstring(&attribute);
            if (name != NULL && name[0] != '\0') return name;
        }
    }
    return NULL;
}

static bool die_udata(Dwarf_Die *die, unsigned int name, Dwarf_Word *value) {
    Dwarf_Attribute attribute;
    return lib.attr(die, name, &attribute) != NULL && lib.formudata(&attribute, value) == 0;
}

/// The compile unit whose ranges hold `address` (relative to the DWARF), by walking the units:
/// for files without .debug_aranges (clang's and swiftc's default), which libdwfl's own
/// lookup (dwfl_module_addrdie) does not find before elfutils 0.191.
static Dwarf_Die *find_unit(Dwarf *dwarf, Dwarf_Addr address, Dwarf_Die *result) {
    uint64_t offset = 0, next = 0;
    size_t header_size = 0;
    for (unsigned long walked = 0; walked < (1ul << 20); walked++) {
        if (lib.nextcu(dwarf, offset, &next, &header_size, NULL, NULL, NULL) != 0) return NULL;
        if (lib.offdie(dwarf, offset + header_size, result) != NULL && lib.haspc(result, address) == 1) return result;
        if (next <= offset) return NULL;
        offset = next;
    }
    return NULL;
}

int steward_dwarf_lookup(steward_dwarf *handle, uint64_t address, steward_dwarf_frame *frames, int capacity) {
    if (handle == NULL || handle->module == NULL || handle->dwarf == NULL || frames == NULL || capacity <= 0) {
        return 0;
    }
    // The compile unit: through libdwfl's index of .debug_aranges, else by walking the units.
    Dwarf_Addr bias = 0;
    Dwarf_Die storage;
    Dwarf_Die *unit = lib.module_addrdie(handle->module, address, &bias);
    if (unit == NULL) {
        bias = handle->bias;
        unit = find_unit(handle->dwarf, address - bias, &storage);
    }
    if (unit == NULL) return 0;
    Dwarf_Addr relative = address - bias;

    // The innermost position: the line table's row for the address.
    const char *file = NULL;
    int64_t line = 0, column = 0;
    Dwarf_Line *row = lib.getsrc_die(unit, relative);
    if (row != NULL) {
        int row_line = 0, row_column = 0;
        file = lib.linesrc(row, NULL, NULL);
        if (lib.lineno(row, &row_line) == 0) line = row_line;
        if (lib.linecol(row, &row_column) == 0) column = row_column;
    }

    int count = 0;
    bool function_found = false;
    Dwarf_Die *scopes = NULL;
    int scope_count = lib.getscopes(unit, relative, &scopes);
    if (scope_count > 0 && scopes != NULL) {
        Dwarf_Files *files = NULL;
        size_t file_count = 0;
        if (lib.getsrcfiles(unit, &files, &file_count) != 0) files = NULL;
        // Innermost scope first. Each inlined call is a frame at the current position; its
        // call site is the position in the scope that called it. The last slot is kept for
        // the function itself.
        for (int i = 0; i < scope_count && count < capacity - 1; i++) {
            int tag = lib.tag(&scopes[i]);
            if (tag == TAG_inlined_subroutine) {
                frames[count++] = (steward_dwarf_frame){die_name(&scopes[i]), file, line, column, 1};
                Dwarf_Word value = 0;
                file = NULL;
                line = 0;
                column = 0;
                if (files != NULL && die_udata(&scopes[i], AT_call_file, &value) && value < file_count) {
                    file = lib.filesrc(files, (size_t)value, NULL, NULL);
                }
                if (die_udata(&scopes[i], AT_call_line, &value) && value <= INT_MAX) line = (int64_t)value;
                if (die_udata(&scopes[i], AT_call_column, &value) && value <= INT_MAX) column = (int64_t)value;
            } else if (tag == TAG_subprogram) {
                frames[count++] = (steward_dwarf_frame){die_name(&scopes[i]), file, line, column, 0};
                function_found = true;
                break;
            }
        }
        free(scopes);
    }
    if (!function_found && count < capacity && (file != NULL || count > 0)) {
        frames[count++] = (steward_dwarf_frame){NULL, file, line, column, 0};
    }
    return count;
}
