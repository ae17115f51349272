#!/bin/sh
# The PEFT round trip: tests/test_peft_roundtrip (C: export, merge, reload) and then, when
# torch, transformers and peft import, tests/peft/roundtrip.py (the same logits in Hugging Face
# PEFT). Without them the C side still runs and the script says that the round trip did not.
#   test_peft_roundtrip.sh PATH/TO/test_peft_roundtrip
set -eu
exe=$1
data=${ADARANK_TEST_DATA:?ADARANK_TEST_DATA must name the tests/ folder}
python=
for p in ${ADARANK_PYTHON:-} python3 /usr/bin/python3; do
    if "$p" -c 'import peft, transformers, torch' 2>/dev/null; then
        python=$p
        break
    fi
done
. "$data/cli_lib.sh" # cli_tmpdir
cli_tmpdir peft-roundtrip
out=$tmp
"$exe" "$out"
if [ -n "$python" ]; then
    echo "round trip with $python"
    "$python" "$data/peft/roundtrip.py" "$data/fixtures/bert_tiny" "$out"
else
    echo "peft not installed: round trip not run (only the C-side checks ran; see README.md," \
         "\"PEFT round trip\", to install it)"
fi
