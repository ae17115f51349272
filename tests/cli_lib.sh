# The checks the command-line test scripts share (every tests/test_cli_*.sh, tests/test_gui_*.sh,
# tests/test_peft_roundtrip.sh). Source it, then make the scratch folder $tmp with cli_tmpdir
# (or set $tmp yourself): every command's output goes to $tmp/out.
# POSIX sh; counts in $passed and $failed, cli_finish NAME prints them and fails on any failure.
passed=0
failed=0

# A shell killed by a signal skips its EXIT trap: Ctrl-C or a test timeout's SIGTERM would leave
# the scratch folder behind. Turned into an exit, the signal runs the EXIT trap (the cleanup).
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# cli_tmpdir NAME: $tmp becomes a new folder $TMPDIR/adarank-test-NAME-XXXXXX, removed when the
# script ends however it ends; ADARANK_KEEP_TMP=1 keeps it for debugging. The commands in
# $cli_at_exit (e.g. killing a background process that writes into $tmp) run first.
cli_at_exit=
cli_tmpdir() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/adarank-test-$1-XXXXXX") || exit 1
    case ${ADARANK_KEEP_TMP:-0} in
    0 | '') trap 'eval "$cli_at_exit"; rm -rf "$tmp"' EXIT ;;
    *) trap 'eval "$cli_at_exit"; echo "ADARANK_KEEP_TMP: kept $tmp" >&2' EXIT ;;
    esac
}

# cli_tiny_model DIR VOCAB: DIR becomes a model folder of the tiny BERT fixture
# ($ADARANK_TEST_DATA/fixtures/bert_tiny, linked) with a WordPiece tokenizer.json whose vocabulary
# is the four specials [PAD] [UNK] [CLS] [SEP] (ids 0-3) and VOCAB, JSON members "word": id, ...
cli_tiny_model() {
    mkdir "$1" || exit 1
    ln -s "$ADARANK_TEST_DATA/fixtures/bert_tiny/config.json" "$1/config.json"
    ln -s "$ADARANK_TEST_DATA/fixtures/bert_tiny/model.safetensors" "$1/model.safetensors"
    cat >"$1/tokenizer.json" <<JSON
{"version": "1.0", "truncation": null, "padding": null,
 "added_tokens": [
  {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
  {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
  {"id": 2, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
  {"id": 3, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
 "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
 "pre_tokenizer": {"type": "BertPreTokenizer"},
 "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
 "decoder": null,
 "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
  "max_input_chars_per_word": 100, "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, $2}}}
JSON
}

# cli_tiny_reviews FILE: a TSV (text, label) of 30 rows, 3 classes, in the words of the
# vocabulary test_cli_methods.sh and test_cli_init_adapter.sh give cli_tiny_model.
cli_tiny_reviews() {
    {
        printf 'text\tlabel\n'
        i=0
        while [ $i -lt 10 ]; do
            printf 'very good food\tpos\nbad taste not fine\tneg\nok food meh\tmid\n'
            i=$((i + 1))
        done
    } >"$1"
}

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
# expect CODE WHAT CMD...: runs CMD with output in $tmp/out, checks its exit code
expect() {
    want=$1 what=$2
    shift 2
    "$@" >"$tmp/out" 2>&1
    got=$?
    if [ "$got" -eq "$want" ]; then ok; else bad "$what: exit $got, want $want"; sed 's/^/    /' "$tmp/out" >&2; fi
}
has() { # has PATTERN WHAT: grep -E on the last output
    if grep -Eq -- "$1" "$tmp/out"; then ok; else bad "$2: no line matching '$1' in:"; sed 's/^/    /' "$tmp/out" >&2; fi
}
# cli_hf_python: $python becomes an interpreter that imports torch, transformers, tokenizers and
# peft ($ADARANK_PYTHON, else python3, else /usr/bin/python3), or stays empty and the caller says
# what did not run. `./setup.sh test` installs that stack and sets ADARANK_REQUIRE_HF=1: then only
# $ADARANK_PYTHON counts, and a stack that does not import is a failure, not a note.
cli_hf_python() {
    python=
    for p in ${ADARANK_PYTHON:-} python3 /usr/bin/python3; do
        if "$p" -c 'import peft, transformers, torch, tokenizers' 2>/dev/null; then
            python=$p
            return 0
        fi
        [ "${ADARANK_REQUIRE_HF:-0}" = 1 ] && break
    done
    if [ "${ADARANK_REQUIRE_HF:-0}" = 1 ]; then
        bad "ADARANK_REQUIRE_HF=1, but ${ADARANK_PYTHON:-python3} cannot import peft," \
            "transformers, torch and tokenizers"
    fi
    return 0
}
# cli_model_missing WHAT: a check that needs all-MiniLM-L6-v2 at $ADARANK_MODEL_DIR and did not
# find it says so, or fails under ADARANK_REQUIRE_MODEL (`./setup.sh test` fetches the checkpoint
# and sets it, so a missing one there is a broken set-up).
cli_model_missing() {
    if [ "${ADARANK_REQUIRE_MODEL:-0}" = 1 ]; then
        bad "$1: no all-MiniLM-L6-v2 at \$ADARANK_MODEL_DIR, but ADARANK_REQUIRE_MODEL=1"
    else
        echo "no all-MiniLM-L6-v2 at \$ADARANK_MODEL_DIR: $1 not checked"
    fi
}
# cli_finish NAME: the summary line; a non-zero status when anything failed
cli_finish() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
