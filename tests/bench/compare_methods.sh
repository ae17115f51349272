#!/bin/sh
# Trains every rank method on the default job (data/default.json: all-MiniLM-L6-v2 on the
# fine-foods sentiment data) with a shorter step budget, and writes a Markdown table of
# validation and test scores, trainable parameters and time.
#
#   tests/bench/compare_methods.sh [OUT_DIR] [SEED...]
#
# Environment: ADARANK_CL (the adarank-cl binary; default build/core/cli/adarank-cl),
# MAX_STEPS (default 100), METHODS (default "lora8 lora4 sora adalora dylora autolora flexora"),
# TABLE (default OUT_DIR/results.md), EXTRA_OPTIONS (more `train` options for every run, e.g.
# "--test=" to skip the test file). Runs already finished in OUT_DIR (summary.json present) are
# not trained again, so the script can be stopped and started again.
#
# docs/results.md holds the table of
#   MAX_STEPS=150 tests/bench/compare_methods.sh runs/compare 0 1   (then its reading, by hand)
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$here/runs/compare}
[ $# -gt 0 ] && shift
seeds=${*:-0}
cli=${ADARANK_CL:-$here/build/core/cli/adarank-cl}
steps=${MAX_STEPS:-100}
methods=${METHODS:-lora8 lora4 sora adalora dylora autolora flexora}
table=${TABLE:-$out/results.md}
mkdir -p "$out"

options() { # the options of one row of the table
    case $1 in
    lora8) echo "--method lora --rank 8" ;;
    lora4) echo "--method lora --rank 4 --alpha 8" ;;
    *) echo "--method $1 --rank 8" ;;
    esac
}

for seed in $seeds; do
    for m in $methods; do
        run=$out/$m-s$seed
        [ -f "$run/summary.json" ] && continue
        rm -rf "$run.tmp"
        echo "== $m seed $seed ($steps steps) -> $run" >&2
        start=$(date +%s)
        # shellcheck disable=SC2046
        if "$cli" train --config "$here/data/default.json" --out "$run.tmp" --seed "$seed" \
            --max-steps "$steps" --eval-every 0 --quiet --json $(options "$m") ${EXTRA_OPTIONS:-} \
            >"$run.tmp.json" 2>"$run.tmp.log"; then
            end=$(date +%s)
            echo "$((end - start))" >"$run.tmp/wall_s"
            mv "$run.tmp.log" "$run.tmp/train.log"
            mv "$run.tmp.json" "$run.tmp/summary.json"
            rm -rf "$run" && mv "$run.tmp" "$run"
        else
            echo "   failed: see $run.tmp.log" >&2
        fi
    done
done

python3 "$here/tests/bench/results_table.py" --steps "$steps" "$out" >"$table"
echo "table: $table" >&2
