#!/bin/sh
# `adarank-cl eval --predictions FILE`, end to end for each task: a short training run, then eval
# with --json and --predictions, and the JSONL checked against the printed metrics by Python's
# json module (the interpreter meson runs on, given as the second argument):
#   seq-cls    the tiny BERT fixture on tests/cli_lib.sh's reviews: one line per example in the
#              data's order (text and gold label of row i), accuracy and macro F1 recomputed from
#              the lines equal eval's, each prediction is the argmax of its probabilities, which
#              sum to 1; --batch 1 and 7 give the same lines (the length sort undone);
#   token-cls  tests/fixtures/ner_tiny.jsonl (PER tags, as test_cli_token_cls.sh): words and gold
#              tags are the data's, one predicted tag per word, token accuracy and the labelled
#              word count recomputed equal eval's; at --max-length 8 the cut words are null;
#   causal-lm  tests/fixtures/gpt2_lm on prompt_completion.jsonl: the token-weighted mean of the
#              per-example losses is eval's loss, the token counts add up to eval's;
#   failures   a missing folder, a folder in the file's place and a full disk (ulimit -f) give a
#              clear message and exit code 3, leave no partial or temporary file and an older
#              file as it was; SIGTERM mid-run leaves no temporary file; an empty
#              --predictions is a usage error.
#   test_cli_eval_predictions.sh PATH/TO/adarank-cl PATH/TO/python3
# $ev (an eval command line) is split into words on purpose:
# shellcheck disable=SC2086
set -u
cli=$1
python=$2
data=${ADARANK_TEST_DATA:?ADARANK_TEST_DATA must name the tests/ folder}
. "$data/cli_lib.sh"
cli_tmpdir eval-predictions

# check WHAT SCRIPT ARGS...: runs a Python check (a script on stdin); its output is the reason
check() {
    what=$1
    shift
    if "$python" - "$@" >"$tmp/check" 2>&1; then ok; sed 's/^/    /' "$tmp/check"; else
        bad "$what"; sed 's/^/    /' "$tmp/check" >&2; fi
}

# Tolerances. `eval --json` prints %.6g: a metric in [0, 1] is off by at most 5e-7 and any value
# by a relative 5e-6; the file's floats have 9 digits (float32 round trip). Probabilities are a
# float32 softmax: K = 3 values each rounded once (2^-24 relative) sum to 1 within 1e-6. The LM's
# per-example losses add the same per-token float32 losses as eval's batch means, which are
# rounded to float32 once per batch (2^-24): 1e-5 relative covers both.
METRIC_TOL=1e-6
LOSS_RTOL=1e-5
PROB_TOL=1e-6

# ---- sequence classification ------------------------------------------------------------------
cli_tiny_model "$tmp/model" '"good": 4, "bad": 5, "ok": 6,
  "food": 7, "taste": 8, "very": 9, "not": 10, "fine": 11, "love": 12, "hate": 13, "meh": 14'
cli_tiny_reviews "$tmp/reviews.tsv"
{
    head -1 "$tmp/reviews.tsv"
    printf 'not good\tneg\nvery bad food\tneg\nfine\tpos\nok taste not bad\tmid\nlove it\tpos\n'
    printf 'hate the food very much\tneg\nmeh\tmid\ngood food very fine taste ok\tpos\n'
    tail -n +2 "$tmp/reviews.tsv" | head -12
} >"$tmp/cls.tsv"
expect 0 "seq-cls train" "$cli" train --model "$tmp/model" --train "$tmp/reviews.tsv" \
    --out "$tmp/cls" --rank 4 --alpha 8 --batch 4 --max-length 16 --max-steps 30 --lr 1e-2 \
    --seed 1 --quiet
ev="$cli eval --model $tmp/model --adapter $tmp/cls/adapter --data $tmp/cls.tsv"
expect 0 "seq-cls eval --predictions" $ev --json --predictions "$tmp/cls.jsonl"
cp "$tmp/out" "$tmp/cls.metrics"
check "seq-cls predictions" "$tmp/cls.jsonl" "$tmp/cls.metrics" "$tmp/cls.tsv" \
    "$METRIC_TOL" "$PROB_TOL" <<'PY'
import json, sys
path, metrics, tsv, tol, ptol = sys.argv[1], sys.argv[2], sys.argv[3], *map(float, sys.argv[4:])
m = json.loads(open(metrics).read().strip().splitlines()[-1])
rows = [l.rstrip("\n").split("\t") for l in open(tsv)][1:]
lines = open(path).read().splitlines()
assert len(lines) == len(rows) == m["count"], (len(lines), len(rows), m["count"])
classes = ["mid", "neg", "pos"]  # sorted names: the ids of training
right, tp, fp, fn = 0, {}, {}, {}
for i, (line, (text, label)) in enumerate(zip(lines, rows)):
    r = json.loads(line)
    assert r["index"] == i and r["text"] == text and r["label"] == label, (i, r)
    p = r["probabilities"]
    assert len(p) == 3 and abs(sum(p) - 1) <= ptol and min(p) >= 0, (i, p)
    assert r["prediction"] == classes[max(range(3), key=lambda c: p[c])], (i, r)
    right += r["prediction"] == label
    if r["prediction"] == label:
        tp[label] = tp.get(label, 0) + 1
    else:
        fp[r["prediction"]] = fp.get(r["prediction"], 0) + 1
        fn[label] = fn.get(label, 0) + 1
acc = right / len(rows)
seen = set(tp) | set(fp) | set(fn)  # scikit-learn's macro F1 over the classes that occur
f1 = sum(2 * tp.get(c, 0) / (2 * tp.get(c, 0) + fp.get(c, 0) + fn.get(c, 0)) for c in seen) / len(seen)
assert abs(acc - m["accuracy"]) <= tol, ("accuracy", acc, m["accuracy"])
assert abs(f1 - m["f1"]) <= tol, ("f1", f1, m["f1"])
print(f"seq-cls: {len(lines)} lines, accuracy {acc:.6f} (eval {m['accuracy']}), f1 {f1:.6f}")
PY
# the order of the lines does not depend on the batches (eval sorts them by length)
for b in 1 7; do
    expect 0 "seq-cls eval --batch $b" $ev --batch $b --predictions "$tmp/cls_b$b.jsonl"
done
check "seq-cls lines equal across batch sizes" "$tmp/cls.jsonl" "$tmp/cls_b1.jsonl" \
    "$tmp/cls_b7.jsonl" <<'PY'
import json, sys
# padding changes the float32 sums a little: probabilities agree to 1e-4 (tests/test.h's
# model-level tolerance), the predicted classes exactly
runs = [[json.loads(l) for l in open(p)] for p in sys.argv[1:]]
for other in runs[1:]:
    assert len(other) == len(runs[0])
    for a, b in zip(runs[0], other):
        assert a["index"] == b["index"] and a["prediction"] == b["prediction"], (a, b)
        assert all(abs(x - y) <= 1e-4 for x, y in zip(a["probabilities"], b["probabilities"])), (a, b)
print("seq-cls: batch 64, 1 and 7 agree")
PY

# ---- token classification ---------------------------------------------------------------------
cli_tiny_model "$tmp/nermodel" '".": 4, "the": 5, "in": 6, "to": 7,
  "a": 8, "for": 9, "of": 10, "and": 11, "from": 12, "with": 13, "met": 14, "anna": 15,
  "schmidt": 16, "john": 17, "carter": 18, "maria": 19, "peter": 20, "laura": 21, "gomez": 22,
  "tom": 23, "lucy": 24, "ahmed": 25, "sarah": 26, "lee": 27, "carlos": 28, "elena": 29,
  "mark": 30, "nina": 31, "david": 32, "brown": 33, "olga": 34, "ham": 35, "##burg": 36,
  "ber": 37, "##lin": 38, "pet": 39, "##rova": 40, "lives": 41, "moved": 42, "visited": 43'
sed -E 's/"[BI]-(LOC|ORG|MISC)"/"O"/g' "$data/fixtures/ner_tiny.jsonl" >"$tmp/per.jsonl"
head -30 "$tmp/per.jsonl" >"$tmp/ner_train.jsonl"
tail -10 "$tmp/per.jsonl" >"$tmp/ner_test.jsonl"
expect 0 "token-cls train" "$cli" train --model "$tmp/nermodel" --task token-cls \
    --train "$tmp/ner_train.jsonl" --out "$tmp/ner" --rank 4 --alpha 8 --batch 8 \
    --max-length 24 --max-steps 4 --lr 5e-3 --seed 3 --quiet
for len in 24 8; do
    expect 0 "token-cls eval --predictions (max length $len)" "$cli" eval --model "$tmp/nermodel" \
        --adapter "$tmp/ner/adapter" --data "$tmp/ner_test.jsonl" --max-length $len --json \
        --predictions "$tmp/ner$len.jsonl"
    cp "$tmp/out" "$tmp/ner$len.metrics"
    check "token-cls predictions (max length $len)" "$tmp/ner$len.jsonl" "$tmp/ner$len.metrics" \
        "$tmp/ner_test.jsonl" "$METRIC_TOL" "$len" <<'PY'
import json, sys
path, metrics, src, tol, max_len = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
m = json.loads(open(metrics).read().strip().splitlines()[-1])
rows = [json.loads(l) for l in open(src)]
lines = open(path).read().splitlines()
assert len(lines) == len(rows) == m["count"], (len(lines), len(rows), m["count"])
tags = {"B-PER", "I-PER", "O"}
counted = right = cut = 0
for i, (line, row) in enumerate(zip(lines, rows)):
    r = json.loads(line)
    assert r["index"] == i and r["words"] == row["tokens"] and r["tags"] == row["ner_tags"], (i, r)
    assert len(r["predicted"]) == len(r["words"]), (i, len(r["predicted"]), len(r["words"]))
    got = [p for p in r["predicted"] if p is not None]
    assert all(p in tags for p in got), (i, r["predicted"])
    # the words that kept a token come first: truncation cuts from the end
    assert r["predicted"][:len(got)] == got, (i, r["predicted"])
    counted += len(got)
    cut += len(r["words"]) - len(got)
    right += sum(p == t for p, t in zip(r["predicted"], r["tags"]) if p is not None)
assert counted == m["tokens"], ("labelled words", counted, m["tokens"])
assert abs(right / counted - m["accuracy"]) <= tol, ("accuracy", right / counted, m["accuracy"])
# [CLS] + [SEP] leave max_len - 2 tokens: at 8 some words must be cut, at 24 none of these
assert (cut > 0) == (max_len == 8), ("words cut", cut, max_len)
print(f"token-cls (max length {max_len}): {counted} words predicted, {cut} cut, "
      f"accuracy {right / counted:.6f} (eval {m['accuracy']})")
PY
done

# ---- causal LM --------------------------------------------------------------------------------
expect 0 "causal-lm train" "$cli" train --model "$data/fixtures/gpt2_lm" --targets c_attn \
    --train "$data/fixtures/prompt_completion.jsonl" --out "$tmp/lm" --rank 4 --alpha 8 \
    --batch 4 --max-length 48 --max-steps 4 --lr 1e-2 --seed 3 --quiet
expect 0 "causal-lm eval --predictions" "$cli" eval --model "$data/fixtures/gpt2_lm" \
    --adapter "$tmp/lm/adapter" --data "$data/fixtures/prompt_completion.jsonl" --batch 8 \
    --json --predictions "$tmp/lm.jsonl"
cp "$tmp/out" "$tmp/lm.metrics"
check "causal-lm predictions" "$tmp/lm.jsonl" "$tmp/lm.metrics" \
    "$data/fixtures/prompt_completion.jsonl" "$LOSS_RTOL" <<'PY'
import json, math, sys
path, metrics, src, rtol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
m = json.loads(open(metrics).read().strip().splitlines()[-1])
rows = [json.loads(l) for l in open(src)]
lines = [json.loads(l) for l in open(path)]
assert len(lines) == len(rows) == m["count"], (len(lines), len(rows), m["count"])
for i, (r, row) in enumerate(zip(lines, rows)):
    assert r["index"] == i and r["prompt"] == row["prompt"] and r["completion"] == row["completion"]
    assert r["tokens"] > 0 and math.isfinite(r["loss"]) and r["loss"] > 0, (i, r)
tokens = sum(r["tokens"] for r in lines)
loss = sum(r["loss"] * r["tokens"] for r in lines) / tokens
assert tokens == m["tokens"], ("tokens", tokens, m["tokens"])
assert abs(loss - m["loss"]) <= rtol * m["loss"], ("loss", loss, m["loss"])
print(f"causal-lm: {tokens} tokens, weighted mean loss {loss:.7f} (eval {m['loss']})")
PY

# ---- failures: a clear message, exit code 3, no partial file ----------------------------------
tmp_left() { # whether a temporary file (FILE.tmp.PID) is left in $tmp
    for f in "$tmp"/*.tmp.*; do [ -e "$f" ] && return 0; done
    return 1
}
expect 3 "into a missing folder" $ev --predictions "$tmp/nowhere/p.jsonl"
has "adarank-cl: eval: --predictions: .*/nowhere/p.jsonl: cannot create: No such file or directory" \
    "missing folder: message"
[ ! -e "$tmp/nowhere" ] && ok || bad "missing folder: something was created"
mkdir "$tmp/adir"
expect 3 "a folder in the file's place" $ev --predictions "$tmp/adir"
has "adarank-cl: eval: --predictions: .*/adir: cannot write: Is a directory" "folder: message"
if tmp_left; then bad "a temporary file is left: $(ls "$tmp")"; else ok; fi
# a full disk: writes past the file size limit (ulimit -f) fail with EFBIG, SIGXFSZ ignored (a
# shell trap's empty action is inherited). The limit also binds PoCL's kernel cache files (up to
# ~0.5 MB here), so it is 4096 blocks (2-4 MB) and the file 6.75 MB: 3 reviews of 2.25 MB each
# (the texts are written whole; the model sees their first 16 tokens). An older file stays.
"$python" -c 'import sys; t = "very good food " * 150000
sys.stdout.write("text\tlabel\n" + "".join(t + "\tpos\n" for _ in range(3)))' >"$tmp/big.tsv"
printf 'old\n' >"$tmp/keep.jsonl"
expect 3 "a full disk" sh -c 'trap "" XFSZ; ulimit -f 4096; exec "$@"' sh "$cli" eval \
    --model "$tmp/model" --adapter "$tmp/cls/adapter" --data "$tmp/big.tsv" \
    --predictions "$tmp/keep.jsonl"
has "adarank-cl: eval: --predictions: .*/keep.jsonl: cannot write: File too large" \
    "full disk: message"
[ "$(cat "$tmp/keep.jsonl")" = old ] && ok || bad "full disk: the older file was changed"
if tmp_left; then bad "full disk: a temporary file is left: $(ls "$tmp")"; else ok; fi
# the same run with room replaces the older file whole
expect 0 "replacing an older file" $ev --predictions "$tmp/keep.jsonl"
[ "$(wc -l <"$tmp/keep.jsonl")" -eq 20 ] && ok || bad "replaced file: want 20 lines"
# SIGTERM while the temporary file exists (tokenizing big.tsv takes a while): the process dies of
# the signal and removes it. Should eval win the race and finish first, the file is simply
# committed; either way no temporary file may be left.
"$cli" eval --model "$tmp/model" --adapter "$tmp/cls/adapter" --data "$tmp/big.tsv" \
    --predictions "$tmp/killed.jsonl" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 500); do ls "$tmp" | grep -q '^killed\.jsonl\.tmp\.' && break; sleep 0.01; done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
status=$?
if [ "$status" -eq 143 ]; then
    ok
    [ -e "$tmp/killed.jsonl" ] && bad "SIGTERM: a predictions file appeared" || ok
elif [ "$status" -eq 0 ] && [ -s "$tmp/killed.jsonl" ]; then
    ok # finished before the signal
else
    bad "SIGTERM: exit status $status, want 143 (killed) or 0 (finished first)"
fi
if ls "$tmp" | grep -q '^killed\.jsonl\.tmp\.'; then bad "SIGTERM left $(ls "$tmp" | grep killed)"; else ok; fi

expect 2 "an empty --predictions" $ev --predictions ""
has "bad option --predictions" "empty --predictions: message"

cli_finish cli_eval_predictions
