#!/usr/bin/env python3
"""PEFT round trip: an adapter exported by adarank-cl, loaded by Hugging Face PEFT onto the same
base model, gives the logits adarank-cl computed.

    python3 tests/peft/roundtrip.py BASE_DIR OUT_DIR

OUT_DIR is what tests/test_peft_roundtrip (the C side) leaves: adapter/ (the PEFT adapter),
merged/ (the base with the adapter folded in) and roundtrip.json (input_ids, attention_mask and
the logits of adarank-cl's gated engine). Checked here, with transformers' own model classes:
  1. BertForSequenceClassification(BASE) + PeftModel.from_pretrained(adapter): same logits;
  2. the same after PEFT's merge_and_unload();
  3. BertForSequenceClassification.from_pretrained(merged): same logits (our merge loads in
     transformers with no missing or unexpected weights).
Needs torch, transformers and peft (README.md, "PEFT round trip"). Exit status 0 when all pass.
"""
import json
import os
import sys
import warnings

import torch
from peft import PeftModel
from transformers import BertForSequenceClassification

# Both sides compute in float32 on a CPU: the logits of this 2-layer, 72-wide model differ by a
# few float32 roundings of O(1) values (the C test's policy gives ~1e-5 for this chain); 1e-4
# absolute leaves a margin of ten while still catching any wrong scale, rank or missing module,
# which move the logits by 1e-2 or more.
ATOL = 1e-4


def compare(what, got, want):
    err = (got - want).abs().max().item()
    ok = err <= ATOL
    print(f"{'ok' if ok else 'FAIL'}: {what}: max |logit difference| {err:.3g} (tolerance {ATOL})")
    return ok


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    base, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(out, "roundtrip.json")) as f:
        ref = json.load(f)
    ids = torch.tensor(ref["input_ids"], dtype=torch.long)
    mask = torch.tensor(ref["attention_mask"], dtype=torch.long)
    want = torch.tensor(ref["logits"], dtype=torch.float32)
    labels = want.shape[1]
    torch.manual_seed(0)
    ok = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some weights were not initialized": the head, loaded next
        model = BertForSequenceClassification.from_pretrained(base, num_labels=labels)
    model.eval()
    peft_model = PeftModel.from_pretrained(model, os.path.join(out, "adapter"))
    peft_model.eval()
    with torch.no_grad():
        got = peft_model(input_ids=ids, attention_mask=mask).logits
        ok &= compare("PeftModel.from_pretrained(base, adapter)", got, want)
        merged = peft_model.merge_and_unload()
        ok &= compare("PEFT merge_and_unload()", merged(input_ids=ids, attention_mask=mask).logits,
                      want)
    loaded, info = BertForSequenceClassification.from_pretrained(
        os.path.join(out, "merged"), output_loading_info=True)
    loaded.eval()
    bad = [k for k in info["missing_keys"] + info["unexpected_keys"] if "position_ids" not in k]
    if bad:
        print(f"FAIL: our merged checkpoint: missing or unexpected weights {bad}")
        ok = False
    with torch.no_grad():
        ok &= compare("our merged checkpoint in transformers",
                      loaded(input_ids=ids, attention_mask=mask).logits, want)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
