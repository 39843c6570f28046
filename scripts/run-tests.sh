#!/usr/bin/env bash
# Runs `swift test` with the given arguments and keeps its whole output in a log, so a failure
# can be read after the fact. When the run fails, the failing tests' issue lines (and the lines
# swift-testing prints under them) are printed again at the very end: a CI log that keeps only
# its last lines still says which test failed and why.
#   scripts/run-tests.sh LOG [swift test arguments]
set -uo pipefail

log=${1:?usage: scripts/run-tests.sh LOG [swift test arguments]}
shift
mkdir -p "$(dirname "$log")"

swift test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    echo
    echo "==== swift test failed (exit $status); full output in $log; what failed:"
    # swift-testing: "✘ Test … recorded an issue at File.swift:L:C: …" (or "✘ Suite …") and its
    # "↳" lines; XCTest: "… error: -[…] : …"; a crash of the test process: "…: Fatal error: …",
    # "signal". -a: children write into the log too, and a stray byte must not make grep print
    # "binary file matches" instead of the lines.
    grep -a -E -A4 '✘ (Test|Suite) .* recorded an issue|error: -\[|: error: |: Fatal error: |Exited with (unexpected )?signal|(Test|Suite) .* failed after' "$log" \
        | grep -a -v -E '^✔|^◇|^--$' | head -n 120
    echo "==== end of failures ($log)"
fi
exit "$status"
