#!/bin/sh
# `adarank-cl train --init-adapter DIR`: a run that starts from an exported adapter, end to end on
# the tiny BERT fixture (tests/fixtures/bert_tiny) with a small WordPiece tokenizer written here:
#   reload    a LoRA run's adapter, then one step at lr 0 (the warm-up's first step): the same
#             validation loss as the first run's last evaluation, to the printed digit (the
#             uniform-rank load is bit-exact, test_peft_import); the effective config records
#             the adapter (absolute path), rank, alpha and targets taken from it; a smaller
#             --rank is raised, a larger one gives the same loss (1e-6 relative: more terms);
#   continue  a few steps at the first run's lr: every training loss is below the first loss of
#             a fresh run;
#   SoRA      a pruned SoRA adapter (non-uniform rank_pattern) continues as plain LoRA at its
#             ranks: same validation loss at lr 0 (1e-6 relative: SoRA's gates were folded into
#             B in float), training runs, the new adapter keeps the rank pattern and `eval`
#             reproduces its validation loss;
#   refusals  a missing adapter, another label count, a module outside --targets, another task,
#             another base (the real MiniLM checkpoint, when ADARANK_MODEL_DIR has it), and
#             AutoLoRA: exit codes 3/2 with messages naming the problem.
#   test_cli_init_adapter.sh PATH/TO/adarank-cl
set -u
cli=$1
data=${ADARANK_TEST_DATA:?ADARANK_TEST_DATA must name the tests/ folder}
. "$data/cli_lib.sh"
cli_tmpdir init-adapter

cli_tiny_model "$tmp/model" '"good": 4, "bad": 5, "ok": 6,
  "food": 7, "taste": 8, "very": 9, "not": 10, "fine": 11, "love": 12, "hate": 13, "meh": 14'
cli_tiny_reviews "$tmp/train.tsv"
grep -v mid "$tmp/train.tsv" >"$tmp/two.tsv"

common="--model $tmp/model --train $tmp/train.tsv --validation $tmp/train.tsv --batch 4
  --eval-batch 8 --max-length 16 --log-every 1 --quiet"
# last_eval RUN: the loss of the last validation event; step_losses RUN: every step's loss
last_eval() {
    grep '"event":"eval"' "$1/metrics.jsonl" | tail -1 | sed 's/.*"loss":\([-0-9.e+]*\).*/\1/'
}
step_losses() {
    grep '"event":"step"' "$1/metrics.jsonl" | sed 's/.*"loss":\([-0-9.e+]*\).*/\1/'
}
# close A B REL: |A - B| <= REL * |B|
close() { awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { d = a - b; if (d < 0) d = -d;
    m = b < 0 ? -b : b; exit !(d <= r * m) }'; }

# the first run: plain LoRA, rank 4, learns the toy task
# shellcheck disable=SC2086
expect 0 "first run" "$cli" train $common --out "$tmp/run1" --rank 4 --alpha 8 --lr 3e-2 \
    --max-steps 24
v1=$(last_eval "$tmp/run1")

# reload: one step at lr 0 (the linear warm-up's first step), lr 1e-12 besides
# shellcheck disable=SC2086
expect 0 "reload" "$cli" train $common --out "$tmp/reload" --init-adapter "$tmp/run1/adapter" \
    --lr 1e-12 --max-steps 1
has "started from the adapter in $tmp/run1/adapter" "reload log"
v2=$(last_eval "$tmp/reload")
if [ -n "$v1" ] && [ "$v1" = "$v2" ]; then ok; else bad "reload: validation loss $v2, first run's $v1"; fi
for want in "\"init_adapter\": \"$tmp/run1/adapter\"" '"rank": 4,' '"alpha": 8,' \
    '"targets": "bert.encoder.layer.0.attention.self.query,' '"labels": \["mid", "neg", "pos"\]'; do
    if grep -q "$want" "$tmp/reload/config.json"; then ok; else bad "effective config: no $want"; fi
done

# --rank: a smaller one is raised to the adapter's, a larger one allocates inactive components
# (the scale stays the adapter's α/r: alpha 8·6/4)
# shellcheck disable=SC2086
expect 0 "reload at rank 2" "$cli" train $common --out "$tmp/r2" --init-adapter \
    "$tmp/run1/adapter" --rank 2 --lr 1e-12 --max-steps 1
has "rank 2 is below the adapter's largest rank 4: using 4" "rank 2 raised"
# shellcheck disable=SC2086
expect 0 "reload at rank 6" "$cli" train $common --out "$tmp/r6" --init-adapter \
    "$tmp/run1/adapter" --rank 6 --lr 1e-12 --max-steps 1
v6=$(last_eval "$tmp/r6")
if [ -n "$v6" ] && close "$v6" "$v1" 1e-6; then ok; else bad "rank 6: loss $v6 vs $v1"; fi
if grep -q '"rank": 6,' "$tmp/r6/config.json" && grep -q '"alpha": 12,' "$tmp/r6/config.json"
then ok; else bad "rank 6: effective rank and alpha"; fi

# continue: a few steps at the first run's lr stay below a fresh run's first loss
# shellcheck disable=SC2086
expect 0 "continue" "$cli" train $common --out "$tmp/cont" --init-adapter "$tmp/run1/adapter" \
    --lr 3e-2 --max-steps 4
fresh=$(step_losses "$tmp/run1" | head -1)
n=0
for l in $(step_losses "$tmp/cont"); do
    n=$((n + 1))
    if awk -v l="$l" -v f="$fresh" 'BEGIN { exit !(l < f) }'; then ok; else
        bad "continue: step $n loss $l is not below a fresh run's first loss $fresh"; fi
done
[ "$n" -eq 4 ] && ok || bad "continue: $n steps, want 4"

# SoRA: prune to a non-uniform rank pattern, then continue as plain LoRA
# shellcheck disable=SC2086
expect 0 "sora run" "$cli" train $common --out "$tmp/sora" --method sora --rank 4 --alpha 8 \
    --lr 3e-2 --max-steps 24 --sora-xi 0.03 --sora-xi-max 0.03
if grep -q '"rank_pattern":{"bert' "$tmp/sora/adapter/adapter_config.json"; then ok; else
    bad "sora: no rank_pattern in $(cat "$tmp/sora/adapter/adapter_config.json")"; fi
# shellcheck disable=SC2086
expect 0 "sora reload" "$cli" train $common --out "$tmp/sora0" --init-adapter \
    "$tmp/sora/adapter" --lr 1e-12 --max-steps 1
vs=$(last_eval "$tmp/sora") vs0=$(last_eval "$tmp/sora0")
if [ -n "$vs" ] && close "$vs0" "$vs" 1e-6; then ok; else bad "sora reload: $vs0 vs $vs"; fi
if grep -q '"method": "lora"' "$tmp/sora0/config.json"; then ok; else bad "sora reload: not lora"; fi
# shellcheck disable=SC2086
expect 0 "sora continue" "$cli" train $common --out "$tmp/sorac" --init-adapter \
    "$tmp/sora/adapter" --lr 3e-2 --max-steps 4
p0=$(grep -o '"rank_pattern":{[^}]*}' "$tmp/sora/adapter/adapter_config.json")
p1=$(grep -o '"rank_pattern":{[^}]*}' "$tmp/sorac/adapter/adapter_config.json")
if [ "$p0" = "$p1" ]; then ok; else bad "sora continue: rank pattern $p1, want $p0"; fi
expect 0 "eval of the continued adapter" "$cli" eval --model "$tmp/model" --adapter \
    "$tmp/sorac/adapter" --data "$tmp/train.tsv" --json
ve=$(sed -n 's/.*"loss": \([-0-9.e+]*\).*/\1/p' "$tmp/out")
vc=$(last_eval "$tmp/sorac")
# eval prints 6 digits; the run's evaluation is of the same weights with the scale ratio in the
# gates instead of B: 1e-4 relative, as test_cli_train's eval check
if [ -n "$ve" ] && close "$ve" "$vc" 1e-4; then ok; else bad "eval: loss $ve vs the run's $vc"; fi

# refusals
# shellcheck disable=SC2086
expect 3 "missing adapter" "$cli" train $common --out "$tmp/bad" --init-adapter "$tmp/nothing"
has "no adapter_config.json" "missing adapter message"
# shellcheck disable=SC2086
expect 3 "other labels" "$cli" train $common --train "$tmp/two.tsv" --validation "$tmp/two.tsv" \
    --labels neg,pos --out "$tmp/bad" --init-adapter "$tmp/run1/adapter"
has "the adapter's head has 3 classes, this run 2" "other labels message"
# shellcheck disable=SC2086
expect 3 "module outside --targets" "$cli" train $common --out "$tmp/bad" --targets query \
    --init-adapter "$tmp/run1/adapter"
has "bert.encoder.layer.0.attention.self.value: the model has no adapter on it" \
    "module outside --targets message"
cp -r "$tmp/run1/adapter" "$tmp/lm"
sed 's/"SEQ_CLS"/"CAUSAL_LM"/' "$tmp/run1/adapter/adapter_config.json" >"$tmp/lm/adapter_config.json"
# shellcheck disable=SC2086
expect 3 "another task" "$cli" train $common --out "$tmp/bad" --init-adapter "$tmp/lm"
has "task_type CAUSAL_LM does not match the model's task SEQ_CLS" "another task message"
# shellcheck disable=SC2086
expect 2 "autolora" "$cli" train $common --out "$tmp/bad" --method autolora \
    --init-adapter "$tmp/run1/adapter"
has "init_adapter: autolora retrains a fresh adapter" "autolora message"
[ ! -e "$tmp/bad" ] && ok || bad "a refused start left a run folder"
base=${ADARANK_MODEL_DIR:-}
if [ -n "$base" ] && [ -f "$base/model.safetensors" ]; then
    # shellcheck disable=SC2086
    expect 3 "another base" "$cli" train $common --model "$base" --out "$tmp/bad" \
        --init-adapter "$tmp/run1/adapter"
    has "lora_A \(4, 72\) and lora_B \(72, 4\) do not fit the model's \(384, 384\)" \
        "another base message"
else
    cli_model_missing "the other-base refusal"
fi
expect 0 "train --help" "$cli" train --help
has "--init-adapter" "train --help"
cli_finish cli_init_adapter
