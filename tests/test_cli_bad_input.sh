#!/bin/sh
# `adarank-cl train` on bad input, as issue 4 lists it: a missing model directory, a truncated
# safetensors file, a run folder that cannot be created, a data file with a bad row. Each must
# be one clear error naming the file, exit code 3 (bad input), and leave what exists untouched:
# no run folder is left behind (not even its missing parents), and an existing run folder keeps
# its files.
# Usage: test_cli_bad_input.sh ADARANK_CL   (ADARANK_TEST_DATA and ADARANK_MODEL_DIR from meson)
cli=$1
. "$(dirname "$0")/cli_lib.sh"
cli_tmpdir bad-input

# no_run_dir PATH: the failed start left no folder at PATH
no_run_dir() { if [ ! -e "$1" ]; then ok; else bad "a failed start left $1 behind"; fi; }

# A tiny BERT with a real WordPiece tokenizer (MiniLM's), and a small valid data file.
cp -r "$ADARANK_TEST_DATA/fixtures/bert_tiny" "$tmp/model"
cp "$ADARANK_MODEL_DIR/tokenizer.json" "$tmp/model/"
printf 'label\ttext\n0\tgood\n1\tbad\n0\tfine\n1\tawful\n' >"$tmp/data.tsv"

expect 3 "missing model directory" "$cli" train --model "$tmp/nope" --train "$tmp/data.tsv" \
    --out "$tmp/run1"
has "$tmp/nope/config.json: cannot open" "the missing file is named"
no_run_dir "$tmp/run1"
expect 3 "missing model directory, nested --out" "$cli" train --model "$tmp/nope" \
    --train "$tmp/data.tsv" --out "$tmp/new/deeper/run"
no_run_dir "$tmp/new"

# A checkpoint cut short: the loader names the file, the tensor and what is wrong.
cp -r "$tmp/model" "$tmp/cut"
head -c 5000 "$tmp/model/model.safetensors" >"$tmp/cut/model.safetensors"
expect 3 "truncated safetensors" "$cli" train --model "$tmp/cut" --train "$tmp/data.tsv" \
    --out "$tmp/run2" --max-length 8
has "cut/model.safetensors: tensor '[^']+': data_offsets .* run past" "the truncation is named"
no_run_dir "$tmp/run2"

# An earlier run's folder: a start that fails on its model leaves every file as it was.
mkdir "$tmp/old"
printf '{"model": "m", "train": "t.tsv", "out": "o", "rank": 2}\n' >"$tmp/old/config.json"
printf 'not really a checkpoint\n' >"$tmp/old/checkpoint-3.arck"
cp "$tmp/old/config.json" "$tmp/old.config.json"
expect 3 "truncated safetensors, earlier run folder" "$cli" train --model "$tmp/cut" \
    --train "$tmp/data.tsv" --out "$tmp/old" --max-length 8
if cmp -s "$tmp/old/config.json" "$tmp/old.config.json" && [ -f "$tmp/old/checkpoint-3.arck" ] &&
    [ "$(ls "$tmp/old" | wc -l)" -eq 2 ]; then ok; else bad "the earlier run folder was changed"; fi

# A run folder under a regular file cannot be created (root may write anywhere else).
expect 3 "uncreatable run folder" "$cli" train --model "$tmp/model" --train "$tmp/data.tsv" \
    --out "$tmp/data.tsv/run"
has "data.tsv/run: cannot create: Not a directory" "the folder and the reason are named"
if grep -q "^device:" "$tmp/out"; then bad "the run folder was checked only after the model"; else ok; fi
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
no_run_dir "$tmp/run3"

cli_finish cli_bad_input
