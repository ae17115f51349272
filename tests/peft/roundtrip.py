#!/usr/bin/env python3
"""PEFT round trip: an adapter exported by adarank-cl, loaded by Hugging Face PEFT onto the same
base model, gives the logits adarank-cl computed.

    python3 tests/peft/roundtrip.py BASE_DIR OUT_DIR
    python3 tests/peft/roundtrip.py --merged CASE_DIR...

OUT_DIR is what tests/test_peft_roundtrip (the C side) leaves: adapter/ (the PEFT adapter),
merged/ (the base with the adapter folded in) and roundtrip.json (input_ids, attention_mask and
the logits of adarank-cl's gated engine). Checked here, with transformers' own model classes:
  1. BertForSequenceClassification(BASE) + PeftModel.from_pretrained(adapter): same logits;
  2. the same after PEFT's merge_and_unload();
  3. BertForSequenceClassification.from_pretrained(merged): same logits (our merge loads in
     transformers with no missing or unexpected weights).

--merged: each CASE_DIR is one case of tests/test_peft_merge (BERT and RoBERTa sequence and
token classification, GPT-2 and Llama causal LM and sequence classification): adapter/, merged/ and
merge.json (base, task, input_ids, attention_mask, the logits of adarank-cl's model with the
adapter). Checked for each, at every real position:
  1. the class named in merged/config.json's "architectures", from_pretrained(merged): same
     logits, no missing or unexpected weights (buffers transformers rebuilds aside), the classes
     of the head in config.json;
  2. that class on the base + PeftModel.from_pretrained(adapter): same logits.
Needs torch, transformers and peft (README.md, "PEFT round trip"). Exit status 0 when all pass.
"""
import json
import os
import sys
import warnings

import torch
import transformers
from peft import PeftModel
from transformers import BertForSequenceClassification

# Both sides compute in float32 on a CPU: the logits of this 2-layer, 72-wide model differ by a
# few float32 roundings of O(1) values (the C test's policy gives ~1e-5 for this chain); 1e-4
# absolute leaves a margin of ten while still catching any wrong scale, rank or missing module,
# which move the logits by 1e-2 or more.
ATOL = 1e-4


def compare(what, got, want, atol=ATOL):
    err = (got - want).abs().max().item()
    ok = err <= atol
    print(f"{'ok' if ok else 'FAIL'}: {what}: max |logit difference| {err:.3g} (tolerance {atol:.3g})")
    return ok


# Weights transformers' classes rebuild or tie and so may list as missing or unexpected: the
# position_ids and GPT-2 attention-mask buffers, Llama's rotary inv_freq, and a tied lm_head (the
# same tensor as the embeddings, which transformers lists under both names).
BENIGN = ("position_ids", "attn.bias", "attn.masked_bias", "rotary_emb.inv_freq", "lm_head.weight")


def merged_case(case):
    with open(os.path.join(case, "merge.json")) as f:
        ref = json.load(f)
    name = ref["case"]
    ids = torch.tensor(ref["input_ids"], dtype=torch.long)
    mask = torch.tensor(ref["attention_mask"], dtype=torch.long)
    want = torch.tensor(ref["logits"], dtype=torch.float32).reshape(ref["shape"])
    rows = len(ref["shape"]) == 2  # sequence classification: (B, K); else (B, T, V)
    # The logits of the LM cases reach ~11 (the classifiers' ~3): the tolerance is ATOL relative
    # to the largest logit, i.e. ATOL where the logits are O(1) as for the BERT case above.
    atol = ATOL * max(1.0, want.abs().max().item())
    real = (lambda x: x) if rows else (lambda x: x[mask.bool()])
    merged_dir = os.path.join(case, "merged")
    with open(os.path.join(merged_dir, "config.json")) as f:
        arch = json.load(f)["architectures"][0]
    cls = getattr(transformers, arch)
    ok = True
    loaded, info = cls.from_pretrained(merged_dir, output_loading_info=True)
    loaded.eval()
    bad = [k for k in info["missing_keys"] + info["unexpected_keys"]
           if not any(b in k for b in BENIGN)]
    if bad:
        print(f"FAIL: {name}: {arch}: missing or unexpected weights {bad}")
        ok = False
    if rows or ref["task"] == "TOKEN_CLS":
        k = want.shape[-1]
        if loaded.config.num_labels != k:
            print(f"FAIL: {name}: config.json has {loaded.config.num_labels} classes, want {k}")
            ok = False
    with torch.no_grad():
        got = loaded(input_ids=ids, attention_mask=mask).logits
        ok &= compare(f"{name}: {arch}.from_pretrained(merged)", real(got), real(want), atol)
    extra = {}
    if rows or ref["task"] == "TOKEN_CLS":
        extra["num_labels"] = want.shape[-1]
    if loaded.config.pad_token_id is not None:
        extra["pad_token_id"] = loaded.config.pad_token_id
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some weights were not initialized": the head, loaded next
        base = cls.from_pretrained(ref["base"], **extra)
    base.eval()
    peft_model = PeftModel.from_pretrained(base, os.path.join(case, "adapter"))
    peft_model.eval()
    with torch.no_grad():
        got = peft_model(input_ids=ids, attention_mask=mask).logits
        ok &= compare(f"{name}: PeftModel.from_pretrained(base, adapter)", real(got), real(want),
                      atol)
    return ok


def main_merged(cases):
    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    ok = True
    for case in cases:
        ok &= merged_case(case)
    return 0 if ok else 1


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--merged":
        return main_merged(sys.argv[2:])
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
