#!/bin/sh
# `adarank-cl train` with the method stages and `adarank-cl export`, end to end on the tiny BERT
# fixture (tests/fixtures/bert_tiny) with a small WordPiece tokenizer written here:
#   DyLoRA    dylora_ranks.tsv has every rank 1..R, eval events "validation@rK" are recorded;
#   Flexora   search then retraining: the steps continue (S + T), the sidecar has the search's
#             ranks, the adapter leaves the unselected layers out;
#   AutoLoRA  the same two stages (first-order search, for speed);
#   export    the adapter copy and --merged (a model folder) are written; bad input is refused
#             with the documented exit codes and a message naming the problem.
#   test_cli_methods.sh PATH/TO/adarank-cl
set -eu
cli=$1
data=${ADARANK_TEST_DATA:?ADARANK_TEST_DATA must name the tests/ folder}
. "$data/cli_lib.sh"
cli_tmpdir cli-methods
fail() { echo "FAIL: $*"; exit 1; }

cli_tiny_model "$tmp/model" '"good": 4, "bad": 5, "ok": 6,
  "food": 7, "taste": 8, "very": 9, "not": 10, "fine": 11, "love": 12, "hate": 13, "meh": 14'
cli_tiny_reviews "$tmp/train.tsv"

common="--model $tmp/model --train $tmp/train.tsv --validation $tmp/train.tsv --test $tmp/train.tsv
  --rank 4 --alpha 8 --batch 4 --eval-batch 8 --max-length 16 --log-every 1 --quiet"

# DyLoRA: the table of every rank
# shellcheck disable=SC2086
"$cli" train $common --out "$tmp/dylora" --method dylora --max-steps 3 >"$tmp/dylora.log" 2>&1 ||
    { cat "$tmp/dylora.log"; fail "dylora run"; }
[ "$(wc -l <"$tmp/dylora/dylora_ranks.tsv")" -eq 5 ] || fail "dylora_ranks.tsv: want 4 ranks"
head -1 "$tmp/dylora/dylora_ranks.tsv" | grep -q "validation_accuracy.*test_accuracy" ||
    fail "dylora_ranks.tsv header"
for r in 1 2 3 4; do
    grep -q "\"split\":\"validation@r$r\"" "$tmp/dylora/metrics.jsonl" || fail "no validation@r$r"
    grep -q "\"split\":\"test@r$r\"" "$tmp/dylora/metrics.jsonl" || fail "no test@r$r"
done
grep -q "DyLoRA table" "$tmp/dylora.log" || fail "the DyLoRA table is not printed"

# Flexora and AutoLoRA: search (2 steps = 0.5 x 4), then 4 retraining steps numbered 3..6
for m in flexora autolora; do
    # shellcheck disable=SC2086
    "$cli" train $common --out "$tmp/$m" --method $m --max-steps 4 --flexora-select-layers 1 \
        --flexora-first-order --autolora-first-order >"$tmp/$m.log" 2>&1 ||
        { cat "$tmp/$m.log"; fail "$m run"; }
    grep -q "stage 1/2: $m search, 2 steps" "$tmp/$m.log" || fail "$m: no search stage"
    grep -q "stage 2/2" "$tmp/$m.log" || fail "$m: no retraining stage"
    grep -q '"event":"step","step":6,' "$tmp/$m/metrics.jsonl" || fail "$m: steps do not continue"
    grep -q '"event":"run_end","step":6,' "$tmp/$m/metrics.jsonl" || fail "$m: run_end step"
    grep -q '"search_ranks": \[' "$tmp/$m/adapter/adarank_state.json" || fail "$m: sidecar"
done
grep -q '"flexora":{"score"' "$tmp/flexora/metrics.jsonl" || fail "flexora: no layer scores"
grep -q '"selection":\[\[' "$tmp/autolora/metrics.jsonl" || fail "autolora: no selection values"
# one layer of two selected: layer 1's or layer 0's modules are left out of the adapter
n=$(grep -o 'encoder.layer.[01].attention.self.[a-z]*"' "$tmp/flexora/adapter/adapter_config.json" |
    sort -u | wc -l)
[ "$n" -eq 2 ] || fail "flexora: $n target modules, want the 2 of the selected layer"
grep -q '"search_ranks": \[4, 4, 0, 0\]\|"search_ranks": \[0, 0, 4, 4\]' \
    "$tmp/flexora/adapter/adarank_state.json" || fail "flexora: search ranks"

# export
"$cli" export "$tmp/flexora" -o "$tmp/exp" >/dev/null || fail "export"
for f in adapter_config.json adapter_model.safetensors adarank_state.json; do
    cmp -s "$tmp/exp/$f" "$tmp/flexora/adapter/$f" || fail "export: $f differs"
done
"$cli" export "$tmp/flexora" --merged -o "$tmp/merged" >/dev/null || fail "export --merged"
for f in model.safetensors config.json tokenizer.json; do
    [ -s "$tmp/merged/$f" ] || fail "export --merged: no $f"
done
grep -q '"BertForSequenceClassification"' "$tmp/merged/config.json" || fail "merged config"
grep -q '"mid"' "$tmp/merged/config.json" || fail "merged config: the run's labels"
"$cli" export --help | grep -q -- "--merged" || fail "export --help"

# bad input: a clear message and the documented exit codes
set +e
"$cli" export "$tmp/nothing" >"$tmp/err" 2>&1
[ $? -eq 3 ] && grep -q "not a run folder" "$tmp/err" || fail "export of a missing run: $(cat "$tmp/err")"
"$cli" export >/dev/null 2>&1
[ $? -eq 2 ] || fail "export without a run: want exit 2"
# shellcheck disable=SC2086
"$cli" train $common --out "$tmp/bad" --flexora-power 5 >"$tmp/err" 2>&1
[ $? -eq 2 ] && grep -q "flexora_power: 5 is out of range" "$tmp/err" ||
    fail "bad flexora_power: $(cat "$tmp/err")"
# shellcheck disable=SC2086
"$cli" train $common --out "$tmp/bad" --method dylora --dylora-min-rank 6 >"$tmp/err" 2>&1
[ $? -eq 2 ] && grep -q "dylora_min_rank: 6 is above rank 4" "$tmp/err" ||
    fail "bad dylora_min_rank: $(cat "$tmp/err")"
set -e
echo "cli_methods: all checks passed"
