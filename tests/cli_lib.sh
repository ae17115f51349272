# The checks the command-line test scripts share (test_cli_bench.sh, test_cli_bench_step.sh,
# test_cli_bad_input.sh). Source it, then make the scratch folder $tmp with cli_tmpdir (or set
# $tmp yourself): every command's output goes to $tmp/out.
# POSIX sh; counts in $passed and $failed, cli_finish NAME prints them and fails on any failure.
passed=0
failed=0

# A shell killed by a signal skips its EXIT trap: Ctrl-C or a test timeout's SIGTERM would leave
# the scratch folder behind. Turned into an exit, the signal runs the EXIT trap (the cleanup).
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# cli_tmpdir NAME: $tmp becomes a new folder $TMPDIR/adarank-test-NAME-XXXXXX, removed when the
# script ends however it ends; ADARANK_KEEP_TMP=1 keeps it for debugging.
cli_tmpdir() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/adarank-test-$1-XXXXXX") || exit 1
    case ${ADARANK_KEEP_TMP:-0} in 0 | '') trap 'rm -rf "$tmp"' EXIT ;; esac
}

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
# expect CODE WHAT CMD...: runs CMD with output in $tmp/out, checks its exit code
expect() {
    want=$1 what=$2
    shift 2
    "$@" >"$tmp/out" 2>&1
    got=$?
    if [ "$got" -eq "$want" ]; then ok; else bad "$what: exit $got, want $want"; sed 's/^/    /' "$tmp/out" >&2; fi
}
has() { # has PATTERN WHAT: grep -E on the last output
    if grep -Eq -- "$1" "$tmp/out"; then ok; else bad "$2: no line matching '$1' in:"; sed 's/^/    /' "$tmp/out" >&2; fi
}
# cli_finish NAME: the summary line; a non-zero status when anything failed
cli_finish() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
