#!/bin/sh
# The PEFT round trip: tests/test_peft_roundtrip (C: export, merge, reload) and then, when
# torch, transformers and peft import, tests/peft/roundtrip.py (the same logits in Hugging Face
# PEFT). Without them the C side still runs and the script says that the round trip did not.
#   test_peft_roundtrip.sh PATH/TO/test_peft_roundtrip
set -eu
exe=$1
data=${ADARANK_TEST_DATA:?ADARANK_TEST_DATA must name the tests/ folder}
. "$data/cli_lib.sh" # cli_tmpdir, cli_hf_python
cli_hf_python
cli_tmpdir peft-roundtrip
out=$tmp
"$exe" "$out" || bad "test_peft_roundtrip"
if [ -n "$python" ]; then
    echo "round trip with $python"
    if "$python" "$data/peft/roundtrip.py" "$data/fixtures/bert_tiny" "$out"; then ok; else
        bad "roundtrip.py"; fi
else
    echo "peft not installed: round trip not run (only the C-side checks ran; see README.md," \
         "\"PEFT round trip\", to install it)"
fi
cli_finish peft_roundtrip
