#!/usr/bin/env bash
# Builds Steward's fuzz targets with libFuzzer and AddressSanitizer, then runs each in turn.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   the targets to run, space-separated (default: every target of Package.swift)
#   FUZZ_FLAGS     more libFuzzer flags (for example -seed=1)
#   FUZZ_JOBS      targets run at once (default 1; each uses one core)
#
# Every target runs with -rss_limit_mb=512 -malloc_limit_mb=512 -timeout=1 (an input taking over a
# second is a finding) and leak detection on. What each run finds new goes to
# .work/NAME/corpus; its log to .work/NAME/fuzz.log; a crash, leak, timeout or out-of-memory input
# to .work/NAME/ as crash-*, leak-*, timeout-* or oom-*, which is how libFuzzer names them. At the
# end a table of executions, coverage and findings is printed and written to .work/summary.md.
# Exit status 1 when any target found anything.
#
#   ./fuzz.sh seeds   rewrites the generated seeds in Corpus/ (a real vault, receipts, a crash
#                     record, ...) with MakeSeeds; needed only when a format changes.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-60}
if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -ra targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(sed -n '/^let targets = \[/,/^\]/p' Package.swift | grep -o '"Fuzz[A-Za-z0-9]*"' | tr -d '"')
fi
read -ra extra <<<"${FUZZ_FLAGS:-}"

# The gold linker fails on the fuzzer and ASan runtimes together ("internal error in
# format_file_lineno"); the toolchain's lld links them, so a toolset names it.
swift_bin=$(dirname "$(readlink -f "$(command -v swift)")")
lld="$swift_bin/ld.lld"
[ -x "$lld" ] || lld=$(command -v ld.lld || true)
if [ -z "$lld" ]; then
    echo "fuzz: no ld.lld beside swift or on PATH (the Swift toolchain ships one)" >&2
    exit 1
fi
mkdir -p .build
printf '{ "schemaVersion": "1.0", "linker": { "path": "%s" } }\n' "$lld" > .build/toolset.json
build=(swift build -c release --toolset "$PWD/.build/toolset.json"
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing)
"${build[@]}"
bin=$("${build[@]}" --show-bin-path)

if [ "${1:-}" = "seeds" ]; then
    ASAN_OPTIONS=detect_leaks=0 "$bin/MakeSeeds" "$PWD/Corpus"
    exit 0
fi

# Runs one target; writes its summary row to .work/NAME/row; exit status 1 on a finding.
fuzz_one() {
    local target=$1
    local work=".work/$target"
    mkdir -p "$work/corpus" "Corpus/$target" "FailCases/$target"
    local flags=(-max_total_time="$seconds" -rss_limit_mb=512 -malloc_limit_mb=512 -timeout=1
                 -print_final_stats=1 -artifact_prefix="$work/")
    [ -f "Dictionaries/$target.dict" ] && flags+=(-dict="Dictionaries/$target.dict")
    echo "fuzz: $target for ${seconds}s"
    touch "$work/started"  # findings are the artifacts newer than this
    local status=0
    # The Swift runtime's backtracer would race libFuzzer's own crash report: off. ASan's
    # quarantine of freed memory is kept small so the RSS limit measures the decoder.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="quarantine_size_mb=16${ASAN_OPTIONS:+:$ASAN_OPTIONS}" "$bin/$target" "${flags[@]}" "${extra[@]}" "$work/corpus" "Corpus/$target" "FailCases/$target" \
        > "$work/fuzz.log" 2>&1 || status=$?
    local last cov ft corpus runs rate rss artifacts findings
    last=$(grep -E '^#[0-9]+' "$work/fuzz.log" | tail -n 1 || true)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo "?")
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo "?")
    corpus=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo "?")
    stat() { grep -o "stat::$1:[[:space:]]*[0-9]*" "$work/fuzz.log" | grep -o '[0-9]*$' || echo "?"; }
    runs=$(stat number_of_executed_units)
    rate=$(stat average_exec_per_sec)
    rss=$(stat peak_rss_mb)
    artifacts=$(find "$work" -maxdepth 1 -type f -newer "$work/started" \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) | sort)
    if [ "$status" -ne 0 ] || [ -n "$artifacts" ]; then
        findings="exit $status: $(echo $artifacts | tr ' ' ',')"
        echo "fuzz: $target FOUND something (exit $status); see $work/fuzz.log" >&2
        grep -E '^(==[0-9]+==|Fatal error|.*: property|SUMMARY)' "$work/fuzz.log" | head -n 5 >&2 || true
    else
        findings="none"
    fi
    echo "| $target | $seconds | $runs | $rate | $cov | $ft | $corpus | ${rss} MB | $findings |" > "$work/row"
    [ "$findings" = "none" ]
}
export -f fuzz_one
export seconds bin
export FUZZ_EXTRA="${extra[*]:-}"

# FUZZ_JOBS targets at a time (default 1): each libFuzzer process uses one core.
found=0
printf '%s\n' "${targets[@]}" | xargs -P "${FUZZ_JOBS:-1}" -I{} bash -c 'read -ra extra <<<"$FUZZ_EXTRA"; fuzz_one "$1"' _ {} || found=1

summary=".work/summary.md"
{
    echo "| target | seconds | executions | exec/s | cov | ft | corpus | peak RSS | findings |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    for target in "${targets[@]}"; do cat ".work/$target/row" 2>/dev/null || echo "| $target | did not run |"; done
} > "$summary"
cat "$summary"
exit "$found"
