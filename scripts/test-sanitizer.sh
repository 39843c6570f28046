#!/usr/bin/env bash
# Runs the whole test suite under a sanitizer, in a build folder of its own:
#   scripts/test-sanitizer.sh address   (make test-asan: AddressSanitizer and LeakSanitizer)
#   scripts/test-sanitizer.sh thread    (make test-tsan: ThreadSanitizer)
# Any report fails the run: ASan and LSan stop the process (a child's report makes its exit
# status non-zero, which its test sees), and TSan's exit status is non-zero after any report.
# Extra arguments go to `swift test` (for example --filter VaultConcurrencyTests).
set -euo pipefail
cd "$(dirname "$0")/.."

sanitizer=${1:?usage: scripts/test-sanitizer.sh address|thread [swift test arguments]}
shift
case "$sanitizer" in
    address | thread) ;;
    *) echo "test-sanitizer: unknown sanitizer $sanitizer (address or thread)" >&2; exit 2 ;;
esac
build=".build-$sanitizer"
supp="$PWD/scripts/sanitizers"

# Link with the toolchain's lld: gold prints hundreds of warnings about ASan's local symbols.
swift_bin=$(dirname "$(readlink -f "$(command -v swift)")")
mkdir -p "$build"
toolset=()
if [ -x "$swift_bin/ld.lld" ]; then
    printf '{ "schemaVersion": "1.0", "linker": { "path": "%s" } }\n' "$swift_bin/ld.lld" > "$build/toolset.json"
    toolset=(--toolset "$PWD/$build/toolset.json")
fi

# Under TSan, the Mutex shim (see its header) goes into every binary, so TSan sees what
# Synchronization.Mutex's contended paths synchronise.
linker=()
if [ "$sanitizer" = thread ]; then
    clang=$(command -v "$swift_bin/clang" || command -v clang)
    "$clang" -O1 -fsanitize=thread -fPIC -c "$supp/tsan_mutex_shim.c" -o "$build/tsan_mutex_shim.o"
    linker=(-Xlinker "$PWD/$build/tsan_mutex_shim.o")
fi

# The Swift runtime's backtracer starts a helper process at a crash; in a sanitized child that
# helper can hang (its memory reader trips over the sanitizer's shadow), holding the pipes the
# crash tests read. Steward's own handler records every crash either way.
export SWIFT_BACKTRACE=enable=no
# The crash tests crash children on purpose and Steward's handler must see those signals.
export ASAN_OPTIONS="detect_leaks=1:handle_segv=0:handle_sigbus=0:handle_sigill=0:handle_sigfpe=0:handle_abort=0:allow_user_segv_handler=1:use_sigaltstack=0:detect_stack_use_after_return=0"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="suppressions=$supp/tsan.supp:halt_on_error=0:second_deadlock_stack=1:history_size=4:handle_segv=0:handle_sigbus=0:handle_sigill=0:handle_sigfpe=0:handle_abort=0"

# Under TSan the suite runs one test at a time. In parallel, on 2 cores and at TSan's slowdown,
# the crash tests (which hold a process-wide lock while their children crash) kept the
# concurrency pool's threads waiting long enough for timing-based tests elsewhere to miss their
# deadlines; run serially, nothing waits on them.
parallel=()
[ "$sanitizer" = thread ] && parallel=(--no-parallel)

swift build --build-tests --sanitize="$sanitizer" --build-path "$build" "${toolset[@]}" "${linker[@]}"
./scripts/run-tests.sh "$build/test.log" --skip-build --sanitize="$sanitizer" --build-path "$build" "${toolset[@]}" "${linker[@]}" "${parallel[@]}" "$@"
