#!/bin/sh
# adarank-gui attached to a run that is being written: new steps must appear while it runs.
#
# Usage: test_gui_live.sh ADARANK_GUI   (ADARANK_TEST_DATA = tests/, xvfb-run on PATH)
#
# The test plays the recorded run tests/fixtures/run_sora/metrics.jsonl into a fresh run folder
# in byte chunks (cut anywhere, mid-line included, as a writer's buffered appends can be),
# with pauses, while the app follows the folder with --trace (one line per heatmap draw, with
# the last step it showed) and --quit-at-step (quit once the final step has been drawn). It
# checks that the app drew several distinct, increasing steps while the file grew, that the
# first draw came before the writer had finished, and that it ended on the run's last step.
set -eu
gui=$1
data=${ADARANK_TEST_DATA:-tests}
src=$data/fixtures/run_sora/metrics.jsonl
command -v xvfb-run >/dev/null || { echo "xvfb-run is missing (./setup.sh deps)" >&2; exit 1; }

. "$(dirname "$0")/cli_lib.sh" # cli_tmpdir
cli_at_exit='[ -z "${app:-}" ] || kill "$app" 2>/dev/null || true' # it follows $tmp/run
cli_tmpdir gui-live
run=$tmp/run
mkdir "$run"
size=$(wc -c < "$src")
last=$(tail -n 1 "$src" | sed 's/.*"step":\([0-9]*\).*/\1/')

# The first chunk: run_start and some steps (cut mid-line on purpose).
chunk=9000
head -c "$chunk" "$src" > "$run/metrics.jsonl"
written=$chunk

GSK_RENDERER=cairo xvfb-run -a -s '-screen 0 1600x1200x24' "$gui" --attach "$run" \
    --page ranks --size 1000x700 --trace --quit-at-step "$last" --screenshot "$tmp/final.png" \
    --timeout 120 > "$tmp/trace.txt" 2> "$tmp/err.txt" &
app=$!

# Wait for the first draw before writing more: that draw shows a partial run.
i=0
until grep -q '^drawn page=ranks' "$tmp/trace.txt"; do
    i=$((i + 1))
    if [ $i -gt 600 ]; then echo "FAIL: no draw within 60 s" >&2; cat "$tmp/err.txt" >&2; exit 1; fi
    sleep 0.1
done
first=$(grep '^drawn page=ranks' "$tmp/trace.txt" | head -n 1 | sed 's/.*step=\([0-9]*\).*/\1/')

while [ "$written" -lt "$size" ]; do
    tail -c +"$((written + 1))" "$src" | head -c "$chunk" >> "$run/metrics.jsonl"
    written=$((written + chunk))
    sleep 0.7
done

status=0
wait "$app" || status=$?
app=
steps=$(grep '^drawn page=ranks' "$tmp/trace.txt" | sed 's/.*step=\([0-9]*\).*/\1/' | uniq)
distinct=$(echo "$steps" | sort -n -u | wc -l)
final=$(echo "$steps" | tail -n 1)
echo "steps drawn: $(echo $steps)"

fail=0
check() { if eval "$1"; then :; else echo "FAIL: $2" >&2; fail=1; fi; }
check '[ "$status" -eq 0 ]' "adarank-gui exited with $status: $(cat "$tmp/err.txt")"
check '[ "$first" -lt "$last" ]' "the first draw already showed the last step ($first)"
check '[ "$distinct" -ge 4 ]' "only $distinct distinct steps drawn while the run grew"
check '[ "$final" -eq "$last" ]' "the last draw showed step $final, the run ends at $last"
check '[ "$(echo "$steps" | sort -n -c 2>&1; echo $?)" = 0 ]' "steps went backwards: $steps"
check '[ -s "$tmp/final.png" ]' "no screenshot of the final state"
check '! grep -q "FILE\|metrics.jsonl:[0-9]" "$tmp/err.txt"' "read errors: $(cat "$tmp/err.txt")"
[ $fail -eq 0 ] && echo "gui_live: passed" || echo "gui_live: failed"
exit $fail
