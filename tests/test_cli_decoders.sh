#!/bin/sh
# `adarank-cl train` and `eval` with the decoders (GPT-2, Llama), end to end on the demo checkpoint
# tests/fixtures/gpt2_lm (a tiny GPT-2 pre-trained on a paragraph of English, with its byte-level
# BPE tokenizer; written by tests/fixtures/gen_decoders_cls.py):
#   causal-lm  prompt/completion JSONL (tests/fixtures/prompt_completion.jsonl, 30 questions and
#              answers), the task chosen from the data: the run folder, the validation loss falls,
#              eval records carry perplexity, the adapter is CAUSAL_LM without modules_to_save,
#              `eval` on the adapter reports loss and perplexity;
#   seq-cls    a TSV of short sentences written here: the adapter is SEQ_CLS with the "score"
#              head saved whole, `eval` reads it back;
#   Llama      tests/fixtures/llama_lm (the same tokenizer with Llama's <s> template, eos
#              "</s>" from config.json, no pad token): causal-lm (the loss falls, the prompts cut
#              from the left at a short --max-length) and seq-cls;
#   PEFT       when torch, transformers and peft import: each adapter loaded with
#              PeftModel.from_pretrained gives the loss `adarank-cl eval` reports;
#   bad input  a task that does not fit the data or the model is refused with exit code 3 and a
#              message naming the problem.
#   test_cli_decoders.sh PATH/TO/adarank-cl
set -u
cli=$1
data=${ADARANK_TEST_DATA:?ADARANK_TEST_DATA must name the tests/ folder}
. "$data/cli_lib.sh"
cli_tmpdir cli-decoders

model=$data/fixtures/gpt2_lm
qa=$data/fixtures/prompt_completion.jsonl
common="--model $model --targets c_attn --rank 4 --alpha 8 --batch 4 --eval-batch 8
  --max-length 48 --log-every 5 --quiet --seed 3"

# ---- causal LM --------------------------------------------------------------------------------
# shellcheck disable=SC2086
expect 0 "causal-lm run" "$cli" train $common --train "$qa" --validation "$qa" --test "$qa" \
    --out "$tmp/lm" --lr 1e-2 --max-steps 40 --eval-every 10
has "task: causal-lm" "the task follows from the data"
has "330 completion tokens|331 completion tokens" "completion tokens counted"
for f in config.json metrics.jsonl adapter/adapter_config.json adapter/adapter_model.safetensors; do
    if [ -s "$tmp/lm/$f" ]; then ok; else bad "run folder lacks $f"; fi
done
grep '"event":"eval"' "$tmp/lm/metrics.jsonl" >"$tmp/evals" || true
if grep -q '"split":"validation".*"perplexity":[0-9]' "$tmp/evals"; then ok; else
    bad "validation records have no perplexity"; cat "$tmp/evals" >&2; fi
if grep -q '"split":"test".*"perplexity":[0-9]' "$tmp/evals"; then ok; else
    bad "the test record has no perplexity"; fi
first=$(grep '"split":"validation"' "$tmp/evals" | head -1 | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
last=$(grep '"split":"validation"' "$tmp/evals" | tail -1 | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.05) }'; then ok; else
    bad "validation loss does not fall: $first -> $last"; fi
echo "causal-lm: validation loss $first -> $last"
conf=$tmp/lm/adapter/adapter_config.json
if grep -q '"task_type":"CAUSAL_LM"' "$conf" && grep -q '"modules_to_save":null' "$conf"; then ok
else bad "adapter_config.json: want task_type CAUSAL_LM, no modules_to_save"; cat "$conf" >&2; fi
expect 0 "eval of the causal-lm adapter" "$cli" eval --model "$model" --adapter "$tmp/lm/adapter" \
    --data "$qa" --json
has '"perplexity": [0-9]' "eval reports perplexity"
has '"tokens": 33[01]' "eval counts the completion tokens"

# ---- sequence classification ------------------------------------------------------------------
{
    printf 'text\tlabel\n'
    for s in "the sun is bright and warm" "birds sing in the green trees" "we love to read good books" \
        "the fruit is sweet and ripe" "children play in the park" "spring brings fresh green leaves" \
        "the milk is fresh and cold" "a warm bed after a long day" "the honey tastes very good" \
        "the garden is full of flowers"; do
        printf '%s\tpos\n' "$s"
    done
    for s in "the rain ruined our day" "the milk has gone sour" "the dog is sick and tired" \
        "the bread is old and hard" "we lost our way in the dark" "the cold wind hurts my hands" \
        "the lamp is broken again" "the river is dirty and grey" "my shoes are wet and torn" \
        "the food was cold and bad"; do
        printf '%s\tneg\n' "$s"
    done
} >"$tmp/sentiment.tsv"
# shellcheck disable=SC2086
expect 0 "seq-cls run" "$cli" train $common --train "$tmp/sentiment.tsv" \
    --validation "$tmp/sentiment.tsv" --out "$tmp/cls" --lr 5e-3 --max-steps 10
has "task: seq-cls" "the task follows from the data"
has "padding with the eos token" "GPT-2 pads with its eos"
conf=$tmp/cls/adapter/adapter_config.json
if grep -q '"task_type":"SEQ_CLS"' "$conf" && grep -q '"modules_to_save":\["score"\]' "$conf"
then ok; else bad "adapter_config.json: want SEQ_CLS, modules_to_save [score]"; cat "$conf" >&2; fi
if grep -aq 'score.weight' "$tmp/cls/adapter/adapter_model.safetensors"; then ok; else
    bad "the adapter lacks score.weight"; fi
if grep -q '"split":"validation".*"accuracy":[0-9]' "$tmp/cls/metrics.jsonl"; then ok; else
    bad "seq-cls validation records have no accuracy"; fi
expect 0 "eval of the seq-cls adapter" "$cli" eval --model "$model" --adapter "$tmp/cls/adapter" \
    --data "$tmp/sentiment.tsv"
has "20 examples: loss [0-9.]+  accuracy" "eval reports accuracy"

# ---- Llama: eos "</s>" from config.json, a BOS template, no pad token ---------------------------
lcommon="--model $data/fixtures/llama_lm --targets q_proj,v_proj --rank 4 --alpha 8 --batch 4
  --eval-batch 8 --log-every 5 --quiet --seed 3"
# shellcheck disable=SC2086
expect 0 "llama causal-lm run" "$cli" train $lcommon --train "$qa" --validation "$qa" \
    --out "$tmp/llama" --lr 1e-2 --max-steps 20 --eval-every 10 --max-length 48
has "331 completion tokens \(with eos 401\)" "Llama's eos from config.json ends the completions"
has "longest 37 tokens" "the prompt starts with the template's <s>"
first=$(grep '"split":"validation"' "$tmp/llama/metrics.jsonl" | head -1 | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
last=$(grep '"split":"validation"' "$tmp/llama/metrics.jsonl" | tail -1 | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.05) }'; then ok; else
    bad "llama: validation loss does not fall: $first -> $last"; fi
echo "llama causal-lm: validation loss $first -> $last"
if grep -q '"task_type":"CAUSAL_LM"' "$tmp/llama/adapter/adapter_config.json"; then ok; else
    bad "llama adapter: want CAUSAL_LM"; fi
# truncation: the prompts lose their start (a log line counts the cut examples)
# shellcheck disable=SC2086
expect 0 "llama causal-lm, short max length" "$cli" train $lcommon --train "$qa" \
    --out "$tmp/llama_cut" --max-steps 2 --max-length 12
has "30 prompt/completion examples, longest 12 tokens, [1-9][0-9]* cut to 12" "examples are cut"
# shellcheck disable=SC2086
expect 0 "llama seq-cls run" "$cli" train $lcommon --train "$tmp/sentiment.tsv" \
    --out "$tmp/llama_cls" --lr 5e-3 --max-steps 4 --max-length 48
if grep -q '"modules_to_save":\["score"\]' "$tmp/llama_cls/adapter/adapter_config.json"; then ok
else bad "llama seq-cls adapter: want modules_to_save [score]"; fi

# ---- Hugging Face PEFT on the same adapters (when torch, transformers and peft import) ---------
# tests/peft/decoders.py loads each adapter with PeftModel.from_pretrained and computes the same
# loss one row at a time (no padding); `eval --json` prints 6 significant digits and both sides
# compute in float32, so the relative tolerance is 1e-4, as tests/peft/roundtrip.py's.
cli_hf_python
same_loss() { # same_loss WHAT: the "loss" of $tmp/ours and $tmp/theirs agree
    a=$(sed 's/.*"loss": \([0-9.e+-]*\).*/\1/' "$tmp/ours")
    b=$(sed 's/.*"loss": \([0-9.e+-]*\).*/\1/' "$tmp/theirs")
    if awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-4 * b) }'
    then ok; echo "$1: adarank-cl $a, PEFT $b"; else bad "$1: adarank-cl $a, PEFT $b"; fi
}
if [ -n "$python" ]; then
    peft_check() { # peft_check WHAT TASK MODEL RUN DATA SPECIAL
        "$cli" eval --model "$3" --adapter "$4/adapter" --data "$5" --json >"$tmp/ours" 2>&1
        "$python" "$data/peft/decoders.py" "$2" "$3" "$4/adapter" "$5" "$6" >"$tmp/theirs" \
            2>"$tmp/py_err" || { bad "$1: decoders.py failed"; cat "$tmp/py_err" >&2; return; }
        same_loss "$1"
    }
    peft_check "GPT-2 causal-lm adapter" causal-lm "$model" "$tmp/lm" "$qa" 0
    peft_check "GPT-2 seq-cls adapter" seq-cls "$model" "$tmp/cls" "$tmp/sentiment.tsv" 0
    peft_check "Llama causal-lm adapter" causal-lm "$data/fixtures/llama_lm" "$tmp/llama" "$qa" 401
    peft_check "Llama seq-cls adapter" seq-cls "$data/fixtures/llama_lm" "$tmp/llama_cls" \
        "$tmp/sentiment.tsv" 401
else
    echo "peft not installed: the adapters were not loaded in Hugging Face PEFT"
fi

# ---- bad input --------------------------------------------------------------------------------
# shellcheck disable=SC2086
expect 3 "seq-cls on prompt/completion data" "$cli" train $common --train "$qa" --task seq-cls \
    --out "$tmp/bad1"
has "task seq-cls cannot use prompt" "names the task and the data"
# shellcheck disable=SC2086
expect 3 "causal-lm on classification data" "$cli" train $common --train "$tmp/sentiment.tsv" \
    --task causal-lm --out "$tmp/bad2"
has "task causal-lm cannot use text" "names the task and the data"
mkdir "$tmp/bert"
ln -s "$data/fixtures/bert_tiny/config.json" "$tmp/bert/config.json"
ln -s "$data/fixtures/bert_tiny/model.safetensors" "$tmp/bert/model.safetensors"
cp "$model/tokenizer.json" "$tmp/bert/tokenizer.json"
expect 3 "causal-lm with an encoder" "$cli" train --model "$tmp/bert" --train "$qa" \
    --out "$tmp/bad3" --quiet
has "needs a GPT-2 or Llama checkpoint" "names the model kind"
expect 2 "an unknown task" "$cli" train $common --train "$qa" --task generation --out "$tmp/bad4"
has "task: \"generation\" is not a task" "names the bad value"
cli_finish cli_decoders
