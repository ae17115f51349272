#!/bin/sh
# adarank-gui starting real training runs: the `adarank-cl train` child, pause and stop.
#
# Usage: test_gui_train.sh ADARANK_GUI ADARANK_CLI   (ADARANK_TEST_DATA = tests/, xvfb-run)
#
# On the tiny BERT fixture (tests/fixtures/bert_tiny: 2 layers, hidden 72, a 3-class head) with
# a 97-word WordPiece tokenizer written here, the app launches training through the same path
# as its New Run form (ArWindow → ArTrainer → GSubprocess) and follows the run folder:
#   1. a SoRA run of 150 steps: the app pauses the child at step 5 for 2 s (SIGSTOP; no step may
#      be read while paused beyond the one in flight), resumes it (SIGCONT), and quits once the
#      run has ended and the child has exited: run_end "completed", the adapter written, and the
#      app drew the last step;
#   2. a run of 100000 steps that the app stops at step 3 (SIGINT, as the Stop button): the CLI
#      must end it cleanly — run_end "interrupted", the adapter saved — long before 100000;
#   3. a start that fails (the training data file is missing): the CLI refuses it before it
#      makes its run folder, and the app makes none either (it never creates the folder: it
#      waits for the CLI's), so nothing is left on disk, and the banner shows the CLI's message.
# Runs 1 and 2 go into folders that do not exist when the app starts: the CLI makes them.
set -eu
gui=$1
cli=$2
data=${ADARANK_TEST_DATA:-tests}
command -v xvfb-run >/dev/null || { echo "xvfb-run is missing (./setup.sh deps)" >&2; exit 1; }
. "$(dirname "$0")/cli_lib.sh" # cli_tmpdir
cli_tmpdir gui-train
fail=0
check() { if eval "$1"; then :; else echo "FAIL: $2" >&2; fail=1; fi; }

# The model: the fixture's weights and a WordPiece tokenizer over its 97-token vocabulary.
model=$tmp/model
mkdir "$model"
ln -s "$(cd "$data/fixtures/bert_tiny" && pwd)/config.json" "$model/config.json"
ln -s "$(cd "$data/fixtures/bert_tiny" && pwd)/model.safetensors" "$model/model.safetensors"
{
    printf '{"version":"1.0","truncation":null,"padding":null,"added_tokens":['
    i=0
    for t in '[PAD]' '[UNK]' '[CLS]' '[SEP]'; do
        [ $i -gt 0 ] && printf ','
        printf '{"id":%d,"content":"%s","single_word":false,"lstrip":false,"rstrip":false,' $i "$t"
        printf '"normalized":false,"special":true}'
        i=$((i + 1))
    done
    printf '],"normalizer":{"type":"BertNormalizer","clean_text":true,'
    printf '"handle_chinese_chars":true,"strip_accents":null,"lowercase":true},'
    printf '"pre_tokenizer":{"type":"BertPreTokenizer"},"post_processor":{"type":'
    printf '"BertProcessing","sep":["[SEP]",3],"cls":["[CLS]",2]},"decoder":null,'
    printf '"model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##",'
    printf '"max_input_chars_per_word":100,"vocab":{'
    i=0
    for t in '[PAD]' '[UNK]' '[CLS]' '[SEP]' good bad ok very not the food taste great awful \
             fine is and it was . , ! love hate meh so tasty bland yum nice poor \
             a b c d e f g h i j k l m n o p q r s t u v w x y z \
             '##a' '##b' '##c' '##d' '##e' '##f' '##g' '##h' '##i' '##j' '##k' '##l' '##m' \
             '##n' '##o' '##p' '##q' '##r' '##s' '##t' '##u' '##v' '##w' '##x' '##y' '##z'; do
        [ $i -ge 97 ] && break
        [ $i -gt 0 ] && printf ','
        printf '"%s":%d' "$t" $i
        i=$((i + 1))
    done
    printf '}}}\n'
} > "$model/tokenizer.json"

printf 'label\ttext\n' > "$tmp/train.tsv"
for i in 1 2 3 4 5; do
    printf 'pos\tgood food, very tasty!\nneg\tbad taste. i hate it\nmid\tit was ok and meh\n'
    printf 'pos\tlove it so good\nneg\tawful bland food\nmid\tfine, not great\n'
done >> "$tmp/train.tsv"

config() { # $1: max steps, $2: steps between evaluations
    printf '{"model":"%s","train":"%s","method":"sora","max_steps":%d,"batch":4,"rank":4,' \
        "$model" "$tmp/train.tsv" "$1"
    printf '"max_length":16,"log_every":1,"eval_every":%d,"seed":3}\n' "$2"
}
field() { # $1: file, $2: member of the run_end line
    grep '"event":"run_end"' "$1" | sed 's/.*"'"$2"'":"\{0,1\}\([^",]*\).*/\1/'
}
export ADARANK_CLI="$cli"

# 1. A complete run, paused and resumed on the way.
steps=150
config $steps 0 > "$tmp/short.json"
status=0
GSK_RENDERER=cairo xvfb-run -a -s '-screen 0 1600x1200x24' "$gui" \
    --train-config "$tmp/short.json" --out "$tmp/run1" --size 1000x700 --trace \
    --pause-at-step 5 --quit-when-ended --timeout 280 > "$tmp/trace1.txt" 2> "$tmp/err1.txt" \
    || status=$?
check '[ "$status" -eq 0 ]' "run 1: adarank-gui exited with $status: $(cat "$tmp/err1.txt")"
check '! grep -q "^banner" "$tmp/trace1.txt"' "run 1: a banner was shown: $(grep '^banner' \
    "$tmp/trace1.txt")"
check '[ -s "$tmp/run1/metrics.jsonl" ]' "run 1: no metrics.jsonl"
check '[ "$(field "$tmp/run1/metrics.jsonl" status)" = completed ]' "run 1 did not complete"
check '[ -d "$tmp/run1/adapter" ]' "run 1: no adapter"
drawn=$(grep '^drawn page=ranks' "$tmp/trace1.txt" | tail -n 1 | sed 's/.*step=\([0-9]*\).*/\1/')
check '[ "$drawn" = $steps ]' "run 1: the last draw showed step ${drawn:-none}, want $steps"
paused=$(sed -n 's/^paused step=\([0-9]*\)/\1/p' "$tmp/trace1.txt")
resumed=$(sed -n 's/^resumed step=\([0-9]*\)/\1/p' "$tmp/trace1.txt")
check '[ -n "$paused" ] && [ -n "$resumed" ]' "run 1: no pause/resume in the trace"
# While stopped the child can finish nothing: at most the step whose line was in flight.
check '[ -n "$paused" ] && [ -n "$resumed" ] && [ $((resumed - paused)) -le 1 ]' \
    "run 1: steps went on while paused ($paused -> $resumed)"
# The pause must have hit the run mid-way, or the check above proves nothing.
check '[ -n "$resumed" ] && [ "$resumed" -lt $steps ]' "run 1: paused only after the end"
# The rate outside the pause: steps per second over the whole run minus the pause. If the
# child had not been stopped, 2 s at this rate would have shown more than one step.
el=$(field "$tmp/run1/metrics.jsonl" elapsed)
echo "run 1: $steps steps in ${el}s of training time (2 s of it paused)"

# 2. A long run stopped at step 3.
config 100000 0 > "$tmp/long.json"
status=0
GSK_RENDERER=cairo xvfb-run -a -s '-screen 0 1600x1200x24' "$gui" \
    --train-config "$tmp/long.json" --out "$tmp/run2" --size 1000x700 --trace \
    --stop-at-step 3 --quit-when-ended --timeout 280 > "$tmp/trace2.txt" 2> "$tmp/err2.txt" \
    || status=$?
check '[ "$status" -eq 0 ]' "run 2: adarank-gui exited with $status: $(cat "$tmp/err2.txt")"
check '[ "$(field "$tmp/run2/metrics.jsonl" status)" = interrupted ]' \
    "run 2: run_end is not \"interrupted\""
end=$(field "$tmp/run2/metrics.jsonl" step)
check '[ -n "$end" ] && [ "$end" -lt 100 ]' "run 2 went on to step ${end:-?} after the stop"
check '[ -d "$tmp/run2/adapter" ]' "run 2: no adapter saved on stop"
check 'grep -q "^stopped step=" "$tmp/trace2.txt"' "run 2: the stop hook never fired"

# 3. A start that fails: the data file is missing. --out is two levels deep, so a GUI that made
#    the folder (or its parent) before starting the CLI would leave one behind.
sed "s|$tmp/train.tsv|$tmp/missing.tsv|" "$tmp/short.json" > "$tmp/bad.json"
status=0
GSK_RENDERER=cairo xvfb-run -a -s '-screen 0 1600x1200x24' "$gui" \
    --train-config "$tmp/bad.json" --out "$tmp/run3/out" --size 1000x700 --trace \
    --quit-when-ended --timeout 120 > "$tmp/trace3.txt" 2> "$tmp/err3.txt" || status=$?
check '[ "$status" -eq 0 ]' "run 3: adarank-gui exited with $status: $(cat "$tmp/err3.txt")"
check '[ ! -e "$tmp/run3" ]' "run 3: the failed start left $tmp/run3 on disk"
banner=$(sed -n 's/^banner text=//p' "$tmp/trace3.txt")
check 'echo "$banner" | grep -q "^adarank-cl train did not start (exit [1-9][0-9]*): .*missing.tsv"' \
    "run 3: the banner \"$banner\" lacks the CLI's message about missing.tsv"
check '! grep -q "^drawn" "$tmp/trace3.txt"' "run 3: a chart drew run data of a run that never was"

echo "run 1: paused at step $paused, resumed at $resumed, last draw step $drawn"
echo "run 2: stopped at step $(sed -n 's/^stopped step=//p' "$tmp/trace2.txt"), run_end at $end"
echo "run 3: banner: $banner"
[ $fail -eq 0 ] && echo "gui_train: passed" || { echo "gui_train: failed"; cat "$tmp"/trace*.txt; }
exit $fail
