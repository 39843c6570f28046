#!/usr/bin/env bash
# make test-release: crash capture in a release build (-c release: optimised, what hosts ship),
# which the suite (a debug build) never sees. Builds the example CLI with -c release, crashes it
# with every `steward crash trigger` kind in a child process, and checks the report the next run
# makes of it: the signal, a symbolicated stack, and the error each kind carries in an optimised
# build (Documentation/Crash.md, "The fatal error's message": fatalError keeps its message;
# precondition, index and unwrap checks become bare traps that the debug information names).
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release --product steward
steward="$(swift build -c release --show-bin-path)/steward"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"

failures=0
fail() {
    echo "test-release: $1: $2" >&2
    failures=$((failures + 1))
}

# check KIND SIGNAL-NAME ERROR-TYPE MESSAGE-PART: ERROR-TYPE empty when the report has no error.
check() {
    local kind=$1 signal=$2 type=$3 message=$4
    local dir="$work/$kind" before=$failures
    mkdir -m 700 "$dir"
    "$steward" consent grant crashReporting --data-dir "$dir" >/dev/null
    # The Swift runtime's backtracer stays on, as in a host: Steward's handler runs first.
    # (In a command substitution, so the shell does not announce the child's death.)
    local status
    status=$(
        (timeout -k 10 120 "$steward" crash trigger "$kind" --data-dir "$dir" >/dev/null 2>"$dir.stderr") 2>/dev/null
        echo $?
    )
    if [ "$status" -le 128 ] || [ "$status" -eq 124 ]; then
        fail "$kind" "expected death by $signal, got exit status $status (124: still running after 120 s); its stderr:"
        head -c 4000 "$dir.stderr" >&2
        return
    fi
    local json="$dir.json"
    if ! "$steward" crash list --json --data-dir "$dir" >"$json" 2>"$dir.list-stderr"; then
        fail "$kind" "steward crash list failed: $(cat "$dir.list-stderr")"
        return
    fi
    local reports
    reports=$(grep -c '"crashedThread" : {' "$json" || true)
    [ "$reports" = 1 ] || { fail "$kind" "expected one report, found $reports"; return; }
    grep -q "\"name\" : \"$signal\"" "$json" || fail "$kind" "the report does not name $signal"
    grep -q '"function" : ' "$json" || fail "$kind" "no frame has a function name"
    if [ -n "$type" ]; then
        grep -q "\"type\" : \"$type\"" "$json" || fail "$kind" "the report's error type is not '$type'"
        grep -F -q "\"message\" : \"$message" "$json" || fail "$kind" "the error's message does not start '$message'"
    elif grep -q '"error" : {' "$json"; then
        fail "$kind" "the report has an error; expected none"
    fi
    [ "$failures" -gt "$before" ] || echo "test-release: $kind: $signal$([ -n "$type" ] && echo ", $type: $message…") ok"
}

trap_signal=SIGILL
[ "$(uname -m)" = x86_64 ] || trap_signal=SIGTRAP

check segv SIGSEGV "" ""
check abort SIGABRT "" ""
check fpe SIGFPE "" ""
check thread SIGSEGV "" ""
check task SIGSEGV "" ""
check fatal "$trap_signal" "Fatal error" "steward crash trigger fatal (steward/Crash.swift:"
check index "$trap_signal" "Swift runtime failure" "Index out of range"
check unwrap "$trap_signal" "Swift runtime failure" "Unexpectedly found nil while unwrapping an Optional value"
check precondition "$trap_signal" "Swift runtime failure" "precondition failure"
# assertionFailure is compiled out of -O: the CLI's assert kind then stops with fatalError.
check assert "$trap_signal" "Fatal error" "steward crash trigger assert (a release build: assertionFailure did not stop)"
check cast SIGABRT "Swift runtime error" "Could not cast value of type 'steward.CrashTriggerValue'"
check arithmetic "$trap_signal" "Swift runtime failure" "arithmetic overflow"
check overflow SIGSEGV "Stack overflow" "the stack ran out: a fault at 0x"

if [ "$failures" -gt 0 ]; then
    echo "test-release: $failures failed" >&2
    exit 1
fi
echo "test-release: every crash kind of the release build made the report expected"
