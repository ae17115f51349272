#!/bin/sh
# `adarank-cl train` and `eval` on token classification, end to end (spawned processes):
#   - tests/fixtures/ner_tiny.jsonl (40 English sentences with IOB2 tags) on the tiny BERT
#     fixture with a small WordPiece tokenizer written here (some names split into sub-tokens,
#     the rest [UNK]); only the PER tags are kept, so the 3 tags B-PER, I-PER, O fit the 3-class
#     classifier stored in bert_tiny (loaded as the token head, as from_pretrained would);
#   - the run folder: config.json with task token-cls and the tags, metrics.jsonl with
#     validation and test records holding the entity F1, the adapter with task_type TOKEN_CLS,
#     the classifier in modules_to_save and its tensors;
#   - `export --merged` (BertForTokenClassification), `eval` on the adapter (entity F1, the JSON
#     form), the task from the data alone, and bad
#     input (a bad row with FILE:LINE, the task against the wrong data) with exit code 3;
#   - with $ADARANK_MODEL_DIR: a few steps of all-MiniLM-L6-v2 on all 8 tags (fresh head).
#   test_cli_token_cls.sh PATH/TO/adarank-cl
set -u
cli=$1
data=${ADARANK_TEST_DATA:?ADARANK_TEST_DATA must name the tests/ folder}
. "$data/cli_lib.sh"
cli_tmpdir token-cls

cli_tiny_model "$tmp/model" '".": 4, "the": 5, "in": 6, "to": 7,
  "a": 8, "for": 9, "of": 10, "and": 11, "from": 12, "with": 13, "met": 14, "anna": 15,
  "schmidt": 16, "john": 17, "carter": 18, "maria": 19, "peter": 20, "laura": 21, "gomez": 22,
  "tom": 23, "lucy": 24, "ahmed": 25, "sarah": 26, "lee": 27, "carlos": 28, "elena": 29,
  "mark": 30, "nina": 31, "david": 32, "brown": 33, "olga": 34, "ham": 35, "##burg": 36,
  "ber": 37, "##lin": 38, "pet": 39, "##rova": 40, "lives": 41, "moved": 42, "visited": 43,
  "works": 44, "asked": 45, "called": 46, "studies": 47, "wrote": 48, "sold": 49'
# PER only: every other entity tag becomes O
sed -E 's/"[BI]-(LOC|ORG|MISC)"/"O"/g' "$data/fixtures/ner_tiny.jsonl" >"$tmp/per.jsonl"
head -30 "$tmp/per.jsonl" >"$tmp/train.jsonl"
tail -10 "$tmp/per.jsonl" >"$tmp/test.jsonl"

common="--model $tmp/model --rank 4 --alpha 8 --batch 8 --eval-batch 16 --max-length 24
  --log-every 1 --lr 5e-3 --quiet"

# shellcheck disable=SC2086
expect 0 "train token-cls" "$cli" train $common --task token-cls --train "$tmp/train.jsonl" \
    --test "$tmp/test.jsonl" --out "$tmp/run" --max-steps 6 --eval-every 3 --seed 3
run=$tmp/run
[ -s "$run/config.json" ] && ok || bad "no config.json"
grep -q '"task": "token-cls"' "$run/config.json" && ok || bad "config.json: task"
grep -q '"labels": \["B-PER", "I-PER", "O"\]' "$run/config.json" && ok ||
    bad "config.json: the tags in id order: $(grep labels "$run/config.json")"
grep -q '"event":"eval".*"split":"validation".*"f1":' "$run/metrics.jsonl" && ok ||
    bad "metrics.jsonl: validation eval with f1"
grep -q '"event":"eval".*"split":"test"' "$run/metrics.jsonl" && ok || bad "metrics.jsonl: test"
grep -q '"event":"run_end","step":6,' "$run/metrics.jsonl" && ok || bad "metrics.jsonl: 6 steps"
grep -Eq '"task_type": ?"TOKEN_CLS"' "$run/adapter/adapter_config.json" && ok ||
    bad "adapter_config.json: task_type"
grep -Eq '"modules_to_save": ?\["classifier"\]' "$run/adapter/adapter_config.json" && ok ||
    bad "adapter_config.json: modules_to_save: $(grep modules_to_save "$run/adapter/adapter_config.json")"
for t in base_model.model.classifier.weight base_model.model.classifier.bias \
    base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight; do
    head -c 4096 "$run/adapter/adapter_model.safetensors" | grep -aq "\"$t\"" && ok ||
        bad "adapter_model.safetensors: no $t"
done
# the pooler is not part of a token classifier: nothing of it is saved
head -c 4096 "$run/adapter/adapter_model.safetensors" | grep -aq "pooler" &&
    bad "the adapter names the pooler" || ok

# export --merged: a model folder transformers loads as a token classifier with the tags
expect 0 "export --merged" "$cli" export "$run" --merged -o "$tmp/merged"
grep -q '"BertForTokenClassification"' "$tmp/merged/config.json" && ok ||
    bad "merged config.json: architectures"
grep -q '"I-PER"' "$tmp/merged/config.json" && ok || bad "merged config.json: the tags"

# eval on the adapter: token metrics, entity F1 for IOB tags
expect 0 "eval" "$cli" eval --model "$tmp/model" --adapter "$run/adapter" --data "$tmp/test.jsonl"
has "10 examples, [0-9]+ labelled words: loss [0-9.]+  token accuracy [0-9.]+  entity f1 [0-9.]+" \
    "eval line"
expect 0 "eval --json" "$cli" eval --model "$tmp/model" --adapter "$run/adapter" \
    --data "$tmp/test.jsonl" --json
has '^\{"count": 10, "tokens": [0-9]+, "loss": [0-9.e-]+, "accuracy": [0-9.e-]+, "f1"' "eval json"

# the task from the data alone (tokens, ner_tags columns)
# shellcheck disable=SC2086
expect 0 "train, task from the data" "$cli" train $common --train "$tmp/train.jsonl" \
    --out "$tmp/auto" --max-steps 2
grep -Eq '"task_type": ?"TOKEN_CLS"' "$tmp/auto/adapter/adapter_config.json" && ok ||
    bad "task from the data: task_type"

# bad input: a row whose lists differ in length, and the task against text data
{
    head -3 "$tmp/train.jsonl"
    echo '{"tokens": ["Ada", "Lovelace", "wrote"], "ner_tags": ["B-PER", "I-PER"]}'
} >"$tmp/bad.jsonl"
# shellcheck disable=SC2086
expect 3 "bad row" "$cli" train $common --train "$tmp/bad.jsonl" --out "$tmp/bad" --max-steps 1
has "bad.jsonl:4: 3 words in \"tokens\" but 2 tags in \"ner_tags\"" "bad row message"
printf 'text\tlabel\nsome text\tpos\nother text\tneg\n' >"$tmp/text.tsv"
# shellcheck disable=SC2086
expect 3 "token-cls on text data" "$cli" train $common --task token-cls --train "$tmp/text.tsv" \
    --out "$tmp/bad2" --max-steps 1
has "text.tsv: token classification data \\(tokens, ner_tags\\) must be JSONL" \
    "token-cls on text data: message"
# shellcheck disable=SC2086
expect 3 "seq-cls on token data" "$cli" train $common --task seq-cls --train "$tmp/train.jsonl" \
    --out "$tmp/bad3" --max-steps 1
has "task seq-cls cannot use tokens,ner_tags data" "seq-cls on token data: message"

# the real all-MiniLM-L6-v2 on all 8 tags (no head in the checkpoint: a fresh one)
mdir=${ADARANK_MODEL_DIR:-}
if [ -n "$mdir" ] && [ -s "$mdir/model.safetensors" ]; then
    head -32 "$data/fixtures/ner_tiny.jsonl" >"$tmp/train8.jsonl"
    tail -8 "$data/fixtures/ner_tiny.jsonl" >"$tmp/val8.jsonl"
    expect 0 "MiniLM token-cls" "$cli" train --model "$mdir" --train "$tmp/train8.jsonl" \
        --validation "$tmp/val8.jsonl" --out "$tmp/minilm" --max-steps 3 --batch 8 \
        --eval-batch 8 --max-length 32 --lr 1e-3 --quiet
    grep -q '"labels": \["B-LOC", "B-MISC", "B-ORG", "B-PER", "I-MISC", "I-ORG", "I-PER", "O"\]' \
        "$tmp/minilm/config.json" && ok || bad "MiniLM: 8 sorted tags"
    grep -q '"event":"eval".*"split":"validation".*"accuracy":' "$tmp/minilm/metrics.jsonl" && ok ||
        bad "MiniLM: validation eval"
else
    cli_model_missing "the real-model run"
fi
cli_finish cli_token_cls
