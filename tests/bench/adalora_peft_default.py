#!/usr/bin/python3
"""PEFT's own AdaLoRA on the default job, to compare with `adarank-cl train --method adalora`.

Run with Debian's /usr/bin/python3 (torch 1.13, transformers 4.30.2, peft 0.10.0), niced, one thread:

    nice -n 10 /usr/bin/python3 tests/bench/adalora_peft_default.py [--init-e normal|zero]
        [--method adalora|lora] [--steps 150] [--seed 0]

The job is data/default.json's with `--method adalora --rank 8 --max-steps 150 --eval-every 0`:
all-MiniLM-L6-v2 (BertForSequenceClassification, 2 labels, the classifier trains as PEFT's
modules_to_save), fine-foods train.tsv with a 5% validation split, max_length 32, batch 16, AdamW
lr 3e-3 (betas 0.9/0.999, eps 1e-8, weight decay 0.01 on everything but biases and LayerNorm, as
HF Trainer groups them), linear schedule with ceil(6%) = 9 warm-up steps, global-norm clipping 1.
AdaLoRA: query,value, init_r 8, target_r 4, lora_alpha 16, tinit 15 and tfinal 45 (adarank-cl's
10% / 30% defaults), deltaT 10, beta1 = beta2 = 0.85, orth_reg_weight 0.5, total_step 150.

To make the comparison about the method and not about the data, the validation split and the
epoch order are adarank-cl's own: ar_encoded_split and ar_dataset_permutation (core/dataset.c,
SplitMix64 + Fisher-Yates) are re-implemented below. Dropout is adarank-cl's: hidden 0.1, none on
the attention probabilities (adarank-cl does not implement it). The loop is PEFT's documented one:
loss.backward(); clip; optimizer.step(); scheduler.step(); update_and_allocate(global_step);
zero_grad(), with global_step counting from 0 (PEFT's examples/ adalora script).

--init-e zero reproduces newer PEFT (and the paper): lora_E starts at 0; peft 0.10 draws it
N(0, 0.02²) like lora_A and lora_B.

Measured (seed 0, 150 steps): PEFT AdaLoRA validation accuracy 0.650 / loss 0.644, test 0.658
(lora_E drawn or zero alike; the majority class), mean |λ| 0.012; at lr 1e-2 still 0.650 / 0.628,
test 0.662. The same harness with PEFT's plain LoRA: 0.720 / 0.530, test 0.805. adarank-cl's
AdaLoRA: 0.650 / 0.646, test 0.658.

Prints progress to stderr and one JSON line with the training losses (every 10 steps, mean of
the task loss, and the orthogonality term), the final rank pattern and validation/test metrics.
"""
import argparse
import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MASK = (1 << 64) - 1


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def permutation(n, seed, epoch):
    """core/dataset.c ar_dataset_permutation."""
    state = mix64((seed ^ 0x5EED5EED5EED5EED) & MASK) ^ mix64((epoch + 0x0E90C40E90C4) & MASK)
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        bound = i + 1
        limit = MASK - MASK % bound
        while True:
            state = (state + 0x9E3779B97F4A7C15) & MASK
            x = mix64(state)
            if x < limit:
                break
        j = x % bound
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        li, ti = header.index("label"), header.index("text")
        for line in f:
            cols = line.rstrip("\n").split("\t")
            rows.append((cols[ti], int(cols[li])))
    return rows


def split(rows, fraction, seed):
    """core/dataset.c ar_encoded_split: epoch UINT64_MAX's order, each part in file order."""
    n_val = max(1, min(len(rows) - 1, int(math.floor(fraction * len(rows) + 0.5))))
    perm = permutation(len(rows), seed, MASK)
    val, train = sorted(perm[:n_val]), sorted(perm[n_val:])
    return [rows[i] for i in train], [rows[i] for i in val]


def encode(tok, rows, max_length):
    enc = tok([t for t, _ in rows], truncation=True, max_length=max_length)
    return enc["input_ids"], [lab for _, lab in rows]


def batch_of(ids, labels, idx):
    t = max(len(ids[i]) for i in idx)
    x = torch.zeros(len(idx), t, dtype=torch.long)
    m = torch.zeros(len(idx), t, dtype=torch.long)
    for r, i in enumerate(idx):
        x[r, : len(ids[i])] = torch.tensor(ids[i])
        m[r, : len(ids[i])] = 1
    return x, m, torch.tensor([labels[i] for i in idx])


def evaluate(model, ids, labels, bs=64):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(ids), bs):
            idx = list(range(s, min(len(ids), s + bs)))
            x, m, y = batch_of(ids, labels, idx)
            logits = model(input_ids=x, attention_mask=m).logits
            loss += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(-1) == y).sum().item()
    model.train()
    return {"count": len(ids), "loss": loss / len(ids), "accuracy": correct / len(ids)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, ".cache/models/all-MiniLM-L6-v2"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data/fine-foods"))
    ap.add_argument("--method", default="adalora", choices=["adalora", "lora"])
    ap.add_argument("--init-e", default="normal", choices=["normal", "zero"])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=3e-3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)

    from peft import AdaLoraConfig, LoraConfig, TaskType, get_peft_model
    from transformers import AutoTokenizer, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(a.model)
    base = BertForSequenceClassification.from_pretrained(
        a.model, num_labels=2, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.0)
    total, tinit, tfinal = a.steps, a.steps // 10, (3 * a.steps) // 10
    if a.method == "adalora":
        cfg = AdaLoraConfig(task_type=TaskType.SEQ_CLS, target_modules=["query", "value"],
                            init_r=8, target_r=4, lora_alpha=16, lora_dropout=0.0, tinit=tinit,
                            tfinal=tfinal, deltaT=10, beta1=0.85, beta2=0.85,
                            orth_reg_weight=0.5, total_step=total)
    else:
        cfg = LoraConfig(task_type=TaskType.SEQ_CLS, target_modules=["query", "value"], r=8,
                         lora_alpha=16, lora_dropout=0.0)
    model = get_peft_model(base, cfg)
    if a.method == "adalora" and a.init_e == "zero":
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_E" in n:
                    p.zero_()

    rows = read_tsv(os.path.join(a.data, "train.tsv"))
    train, val = split(rows, 0.05, a.seed)
    test = read_tsv(os.path.join(a.data, "test.tsv"))
    tr_ids, tr_y = encode(tok, train, 32)
    va_ids, va_y = encode(tok, val, 32)
    te_ids, te_y = encode(tok, test, 32)
    order = permutation(len(tr_ids), a.seed, 0)

    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in trainable if not ("bias" in n or "LayerNorm" in n)]
    no_decay = [p for n, p in trainable if "bias" in n or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    warmup = math.ceil(0.06 * total - 1e-9)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / warmup if s < warmup else max(0.0, (total - s) / (total - warmup)))

    model.train()
    logged, task_sum, reg_sum, n_sum = [], 0.0, 0.0, 0
    for step in range(total):
        idx = order[step * 16:(step + 1) * 16]
        x, m, y = batch_of(tr_ids, tr_y, idx)
        out = model(input_ids=x, attention_mask=m, labels=y)
        task = torch.nn.functional.cross_entropy(out.logits, y).item()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in trainable], 1.0)
        opt.step()
        sched.step()
        if a.method == "adalora":
            model.base_model.update_and_allocate(step)
        opt.zero_grad()
        task_sum += task
        reg_sum += out.loss.item() - task
        n_sum += 1
        if (step + 1) % 10 == 0:
            logged.append({"step": step + 1, "loss": task_sum / n_sum, "orth": reg_sum / n_sum})
            print("step %d loss %.4f orth %.4f" % (step + 1, task_sum / n_sum, reg_sum / n_sum),
                  file=sys.stderr, flush=True)
            task_sum, reg_sum, n_sum = 0.0, 0.0, 0

    result = {"method": a.method, "init_e": a.init_e, "seed": a.seed, "steps": total,
              "train_loss": logged, "validation": evaluate(model, va_ids, va_y),
              "test": evaluate(model, te_ids, te_y)}
    if a.method == "adalora":
        pattern = model.peft_config["default"].rank_pattern or {}
        result["ranks"] = [sum(v) for _, v in sorted(pattern.items())]
        lam = [p.detach().abs().mean().item() for n, p in model.named_parameters() if "lora_E" in n]
        result["mean_abs_lambda"] = sum(lam) / len(lam)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
