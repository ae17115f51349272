#!/bin/sh
# `adarank-cl train` on bad input, as issue 4 lists it: a missing model directory, a truncated
# safetensors file, a run folder that cannot be created, a data file with a bad row. Each must
# be one clear error naming the file, exit code 3 (bad input), and leave what exists untouched.
# Usage: test_cli_bad_input.sh ADARANK_CL   (ADARANK_TEST_DATA and ADARANK_MODEL_DIR from meson)
cli=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/adarank-test-bad-input-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_lib.sh"

# A tiny BERT with a real WordPiece tokenizer (MiniLM's), and a small valid data file.
cp -r "$ADARANK_TEST_DATA/fixtures/bert_tiny" "$tmp/model"
cp "$ADARANK_MODEL_DIR/tokenizer.json" "$tmp/model/"
printf 'label\ttext\n0\tgood\n1\tbad\n0\tfine\n1\tawful\n' >"$tmp/data.tsv"

expect 3 "missing model directory" "$cli" train --model "$tmp/nope" --train "$tmp/data.tsv" \
    --out "$tmp/run1"
has "$tmp/nope/config.json: cannot open" "the missing file is named"

# A checkpoint cut short: the loader names the file, the tensor and what is wrong.
cp -r "$tmp/model" "$tmp/cut"
head -c 5000 "$tmp/model/model.safetensors" >"$tmp/cut/model.safetensors"
expect 3 "truncated safetensors" "$cli" train --model "$tmp/cut" --train "$tmp/data.tsv" \
    --out "$tmp/run2" --max-length 8
has "cut/model.safetensors: tensor '[^']+': data_offsets .* run past" "the truncation is named"

# A run folder under a regular file cannot be created (root may write anywhere else).
expect 3 "uncreatable run folder" "$cli" train --model "$tmp/model" --train "$tmp/data.tsv" \
    --out "$tmp/data.tsv/run"
has "data.tsv/run: cannot create: Not a directory" "the folder and the reason are named"
if cmp -s "$tmp/data.tsv" - <<'DATA'
label	text
0	good
1	bad
0	fine
1	awful
DATA
then ok; else bad "the data file was changed"; fi

# A bad row: file and line, and the run refuses to start.
printf 'label\ttext\n0\tgood\n1\n' >"$tmp/bad.tsv"
expect 3 "bad data row" "$cli" train --model "$tmp/model" --train "$tmp/bad.tsv" --out "$tmp/run3"
has "bad.tsv:3:" "the bad row's line is named"
[ ! -e "$tmp/run3/metrics.jsonl" ] && ok || bad "a refused run wrote metrics"

cli_finish cli_bad_input
