#!/usr/bin/python3
"""Hugging Face PEFT on an adapter `adarank-cl train` wrote for a decoder (tests/test_cli_decoders.sh):

    decoders.py causal-lm MODEL_DIR ADAPTER_DIR DATA.jsonl EOS_ID
    decoders.py seq-cls   MODEL_DIR ADAPTER_DIR DATA.tsv   PAD_ID

causal-lm: AutoModelForCausalLM + PeftModel.from_pretrained; every row encoded as completion
fine-tuning does (prompt with the tokenizer's special tokens, completion without, then eos; the
prompt's labels -100) and the mean loss per completion token over the file is printed with its
perplexity. seq-cls: AutoModelForSequenceClassification (num_labels from the adapter's score,
pad_token_id as given) + PeftModel; the mean cross-entropy over the rows, classes in sorted order.
One row at a time, so no padding is involved. Prints one JSON line the shell test compares with
`adarank-cl eval --json`.
"""
import json
import math
import sys

import torch
import transformers
from peft import PeftModel
from safetensors.torch import load_file
from tokenizers import Tokenizer

transformers.logging.set_verbosity_error()


def main():
    task, model_dir, adapter, data, special = sys.argv[1:6]
    special = int(special)
    tok = Tokenizer.from_file(model_dir + "/tokenizer.json")
    if task == "causal-lm":
        base = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
        model = PeftModel.from_pretrained(base, adapter).eval()
        total, tokens = 0.0, 0
        for line in open(data):
            row = json.loads(line)
            prompt = tok.encode(row["prompt"]).ids
            completion = tok.encode(row["completion"], add_special_tokens=False).ids + [special]
            ids = torch.tensor([prompt + completion])
            labels = torch.tensor([[-100] * len(prompt) + completion])
            with torch.no_grad():
                loss = model(input_ids=ids, labels=labels).loss.item()
            total += loss * len(completion)
            tokens += len(completion)
        print(json.dumps({"tokens": tokens, "loss": total / tokens,
                          "perplexity": math.exp(total / tokens)}))
        return
    weights = load_file(adapter + "/adapter_model.safetensors")
    score = [t for n, t in weights.items() if n.endswith("score.weight")][0]
    base = transformers.AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=score.shape[0], pad_token_id=special)
    model = PeftModel.from_pretrained(base, adapter).eval()
    rows = [line.rstrip("\n").split("\t") for line in open(data)][1:]
    names = sorted(set(r[1] for r in rows))
    total = 0.0
    for text, label in rows:
        ids = torch.tensor([tok.encode(text).ids])
        with torch.no_grad():
            total += model(input_ids=ids, labels=torch.tensor([names.index(label)])).loss.item()
    print(json.dumps({"count": len(rows), "loss": total / len(rows)}))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
