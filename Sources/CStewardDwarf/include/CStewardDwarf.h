// CStewardDwarf: source file, line and column (with inlined frames) for addresses of an ELF
// file that carries DWARF, through elfutils' libdw (libdwfl), loaded with dlopen("libdw.so.1")
// at first use and never linked: a host without libdw runs Steward all the same, and frames
// keep their function names without lines. No elfutils headers are needed to build: the few
// types used are declared in dwarf.c as libdw.so.1's ABI has them.
//
// Imported by StewardCrash's DWARFSourceLines only. Nothing here is async-signal-safe: it runs
// at the next launch (or on the reporter's worker), never in the crash handler.
#ifndef STEWARD_DWARF_H
#define STEWARD_DWARF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One opened file: a Dwfl session holding one module. Not thread-safe: one call at a time.
typedef struct steward_dwarf steward_dwarf;

/// One frame of a location: the innermost inlined call first, the function that holds the
/// address last. Strings point into libdw's memory and stay valid until the handle is closed;
/// NULL when unknown. `line` and `column` are 0 when unknown (as DWARF has them, unchecked).
typedef struct {
    const char *function;
    const char *file;
    int64_t line;
    int64_t column;
    /// 1 for a frame of an inlined call (DW_TAG_inlined_subroutine), 0 for the function.
    int inlined;
} steward_dwarf_frame;

/// 1 when libdw.so.1 and every function used could be loaded (once per process), else 0.
int steward_dwarf_available(void);

/// Opens `path` (an ET_EXEC or ET_DYN ELF file) at its own virtual addresses (bias 0). NULL
/// when libdw is missing, the file cannot be read as ELF, or it has no DWARF of its own
/// (separate debug files and debuginfod are never consulted).
steward_dwarf *steward_dwarf_open(const char *path);

/// Closes a handle from steward_dwarf_open (NULL is ignored).
void steward_dwarf_close(steward_dwarf *handle);

/// The frames for `address` (in the file's virtual address space), innermost first, at most
/// `capacity` (the function's own frame is kept when the inline chain is longer). Returns how
/// many were written; 0 when DWARF says nothing about the address.
int steward_dwarf_lookup(steward_dwarf *handle, uint64_t address, steward_dwarf_frame *frames, int capacity);

#ifdef __cplusplus
}
#endif

#endif
