#!/bin/sh
# `adarank-cl bench step` end to end on the tiny BERT fixture: exit codes and the lines scripts
# read (the step time, the memory split, the PyTorch line), and clear errors for bad input.
# Speed is never asserted, and PyTorch is left out (--no-torch) so the test needs no Python.
# Usage: test_cli_bench_step.sh PATH/TO/adarank-cl   (env ADARANK_TEST_DATA = tests/)
set -u
cli=${1:?usage: test_cli_bench_step.sh PATH/TO/adarank-cl}
data=${ADARANK_TEST_DATA:?ADARANK_TEST_DATA must name the tests/ folder}
tiny="$data/fixtures/bert_tiny"
. "$(dirname "$0")/cli_lib.sh" # cli_tmpdir, ok, bad, expect, has, cli_finish
cli_tmpdir bench-step

expect 0 "bench step --help" "$cli" bench step --help
has "--no-torch" "help names --no-torch"
expect 0 "bench --help lists step" "$cli" bench --help
has "^  step " "bench --help lists step"

# A whole step on the tiny model, without PyTorch: one time line, the memory split, the reason.
expect 0 "bench step --quick --no-torch" "$cli" bench step --quick --no-torch --threads 1 --model "$tiny"
has "^adarank-cl step: [0-9]+\.[0-9] ms \(forward [0-9.]+, backward [0-9.]+, optimizer [0-9.]+ ms\)" "the step time line"
has "^memory: adarank-cl peak RSS [0-9.]+ MiB; device [0-9.]+ MiB now, [0-9.]+ MiB peak = frozen base 0\.3 " "the memory line"
has "^PyTorch: not available \(--no-torch\)" "PyTorch left out with its reason"
has "batch 4 x 32 tokens, LoRA r=8 on query,value \(4 modules\), 1 threads" "the set-up line"

expect 0 "bench step --json" "$cli" bench step --quick --no-torch --json --steps 1 --model "$tiny" --rank 4 --targets all-linear
has '^\{"device_index": [0-9]+, ' "a JSON object"
has '"adarank": \{"step_ms": [0-9.]+, ' "JSON step time"
has '"device_peak_bytes": [1-9][0-9]*, ' "device bytes are counted"
has '"torch": null, "torch_reason": "--no-torch", "ratio": null' "JSON without PyTorch"

# --profile: one more step with every operation timed alone (the tiny BERT has 2 layers and 5
# LayerNorms: the embeddings' and two per layer).
expect 0 "bench step --profile" "$cli" bench step --quick --no-torch --steps 1 --profile --model "$tiny"
has "^profile: one step with every operation run alone \([0-9.]+ ms, against [0-9.]+ ms" "the header"
has "^gemm NT 128x216x72 +2 +[0-9.]+ " "the fused q,k,v product, once per layer"
has "^gemm batched NN 32x32x24 x12 +4 " "S = q.kᵀ and dP = dout.vᵀ, once per layer each"
has "^layernorm_forward(_rows)? +5 " "each LayerNorm once (the _rows kernel on CPU devices)"
has "^gemm batched: packing views +[0-9]+ " "the packing of batched views, apart from the products"
has "^matrix products \(CLBlast\) +[0-9.]+ ms +[0-9.]+%" "the products' sum"
has "^our kernels +[0-9.]+ ms" "the kernels' sum"

# A missing interpreter is a reason, not a failure.
expect 0 "no python" "$cli" bench step --quick --steps 1 --model "$tiny" --python "$tmp/no-python"
has "^PyTorch: not available \(.*no-python cannot be run\)" "missing interpreter reason"

# --rounds N: PyTorch runs after each round of adarank-cl's steps. A stand-in for the reference
# script reports 100, 300 and 200 ms in turn: the reported PyTorch step is their median, 200 ms,
# and the stand-in ran once per round.
cat >"$tmp/torch_stand_in.sh" <<'EOF'
n=$(cat "$0.count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" >"$0.count"
case $n in 1) ms=100 ;; 2) ms=300 ;; *) ms=200 ;; esac
echo "{\"ok\": true, \"step_ms\": $ms, \"cpu_ms\": $((2 * ms)), \"impl\": \"stand-in\", \"torch\": \"0\", \"threads\": 1, \"loss_first\": 0.7}"
EOF
expect 0 "bench step --rounds 3" "$cli" bench step --quick --steps 1 --rounds 3 --threads 1 --model "$tiny" \
    --python /bin/sh --torch-script "$tmp/torch_stand_in.sh"
has "median of 3 rounds, each adarank-cl's steps then PyTorch's" "the rounds in the set-up line"
has "^PyTorch step: +200\.0 ms \(stand-in, torch 0, 1 threads" "PyTorch's step is the median of the rounds"
has "^ratio adarank-cl/PyTorch: [0-9]+\.[0-9]+ \(median of the rounds' ratios\)" "the ratio line"
has "PyTorch 400\.0 ms, ratio [0-9.]+" "PyTorch's CPU time is the median of the rounds"
if [ "$(cat "$tmp/torch_stand_in.sh.count")" = 3 ]; then ok; else bad "the stand-in ran $(cat "$tmp/torch_stand_in.sh.count") times, want 3"; fi
expect 2 "bad --rounds" "$cli" bench step --rounds 0

# Bad input: exit 3 with a message naming the problem; bad options: exit 2.
expect 3 "missing model folder" "$cli" bench step --quick --no-torch --model "$tmp/nowhere"
has "--model $tmp/nowhere: no config.json there" "missing model message"
expect 3 "wrong tensor shape" "$cli" bench step --quick --no-torch --model "$tiny/bad_shape"
has "has shape \[8, 7\]" "shape mismatch message"
expect 3 "sequence longer than the positions" "$cli" bench step --no-torch --model "$tiny" --seq 41
has "exceeds the 40 positions" "positions message"
expect 3 "target matching nothing" "$cli" bench step --quick --no-torch --model "$tiny" --targets nothing
expect 2 "bad --batch" "$cli" bench step --batch 0
expect 2 "unknown option" "$cli" bench step --fast

cli_finish cli_bench_step
