# The checks the command-line test scripts share (test_cli_bench.sh, test_cli_bench_step.sh).
# Source it after setting $tmp (a scratch folder): every command's output goes to $tmp/out.
# POSIX sh; counts in $passed and $failed, cli_finish NAME prints them and fails on any failure.
passed=0
failed=0

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
