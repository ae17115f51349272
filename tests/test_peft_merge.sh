#!/bin/sh
# Merged checkpoints (`adarank-cl export --merged`) for every architecture and task:
# tests/test_peft_merge (C: the merged folder loaded back by adarank-cl gives the adapter model's
# logits and loss), then `adarank-cl export --merged` on a GPT-2 seq-cls run (the run's class
# names and the task class in config.json), then, when torch, transformers and peft import,
# tests/peft/roundtrip.py --merged (transformers' from_pretrained of every merged folder gives the
# same logits, with no missing or unexpected weights; PEFT on the adapter agrees too).
#   test_peft_merge.sh PATH/TO/test_peft_merge PATH/TO/adarank-cl
set -u
exe=$1
cli=$2
data=${ADARANK_TEST_DATA:?ADARANK_TEST_DATA must name the tests/ folder}
. "$data/cli_lib.sh"
cli_tmpdir peft-merge

if "$exe" "$tmp/cases"; then ok; else bad "test_peft_merge"; fi

# ---- the command: a GPT-2 seq-cls run of two steps, merged --------------------------------------
{
    printf 'text\tlabel\n'
    for i in 1 2 3 4; do
        printf 'the sun is bright and warm\tpos\nthe milk has gone sour\tneg\n'
    done
} >"$tmp/sentiment.tsv"
expect 0 "gpt2 seq-cls run" "$cli" train --model "$data/fixtures/gpt2_lm" --targets c_attn,c_fc \
    --rank 4 --alpha 8 --batch 4 --max-length 16 --max-steps 2 --quiet --seed 3 \
    --train "$tmp/sentiment.tsv" --out "$tmp/run"
expect 0 "export --merged" "$cli" export "$tmp/run" --merged -o "$tmp/merged"
has "merged model: " "export names the folder"
conf=$tmp/merged/config.json
if grep -q '"architectures": \["GPT2ForSequenceClassification"\]' "$conf" &&
    grep -q '"id2label": {"0": "neg", "1": "pos"}' "$conf" && grep -q '"pad_token_id": 0' "$conf"
then ok; else bad "merged config.json: want GPT2ForSequenceClassification, neg/pos, pad 0"
    cat "$conf" >&2; fi
if head -c 4096 "$tmp/merged/model.safetensors" | grep -aq '"score.weight"'; then ok; else
    bad "the merged checkpoint lacks score.weight"; fi
[ -s "$tmp/merged/tokenizer.json" ] && ok || bad "the tokenizer was not copied"

# ---- transformers on the merged folders --------------------------------------------------------
cli_hf_python
if [ -n "$python" ]; then
    echo "merged folders in transformers, with $python"
    if "$python" "$data/peft/roundtrip.py" --merged "$tmp"/cases/*/; then ok; else
        bad "roundtrip.py --merged"; fi
else
    echo "peft not installed: the merged folders were not loaded in transformers (only the" \
         "C-side checks ran; see README.md, \"PEFT round trip\", to install it)"
fi
cli_finish peft_merge
