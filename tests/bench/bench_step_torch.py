#!/usr/bin/python3
"""The PyTorch reference of `adarank-cl bench step`: one LoRA training step, timed.

`adarank-cl bench step` runs this script as a child process, with the same model directory,
batch, sequence length, LoRA rank, targets and thread count, and reads the one JSON line it
prints last. It can also be run by hand:

    /usr/bin/python3 tests/bench/bench_step_torch.py --model .cache/models/all-MiniLM-L6-v2 \\
        --batch 16 --seq 128 --rank 8 --targets query,value --steps 5 --threads 2

The step is what adarank-cl's step does (core/train.c): zero the gradients, forward to the
cross-entropy loss in training mode (hidden dropout 0.1, no attention-probability dropout, which
adarank-cl does not implement), backward, clip the global gradient norm to 1, one AdamW update
of the trainable tensors. The model is transformers' AutoModelForSequenceClassification of the
checkpoint (BertForSequenceClassification for MiniLM) when transformers is importable, else a
plain-torch BERT below that computes the same thing. LoRA is plain LoRA as PEFT defines it (r,
lora_alpha = r, dropout 0: y = x·Wᵀ + b + (alpha/r)·(x·Aᵀ)·Bᵀ) around each targeted nn.Linear;
the base is frozen, A, B and the classifier train (PEFT's modules_to_save). adarank-cl's
adapters are gated, so it does a little more work.

Output, one line: {"ok": true, "step_ms": median, "steps_ms": [...], "cpu_ms": median CPU time
of the process (all threads), "peak_rss_kb": ..., ...}
or {"ok": false, "reason": "..."} (exit status 0 either way, so the caller can quote the reason).
"""
import argparse
import json
import math
import os
import resource
import statistics
import struct
import sys
import time


def fail(reason):
    print(json.dumps({"ok": False, "reason": reason}))
    sys.exit(0)


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001 - any import failure means "no PyTorch here"
    fail("cannot import torch: %s" % e)


class LoraLinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update, initialised as PEFT does."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x):
        return self.base(x) + self.scale * F.linear(F.linear(x, self.lora_A), self.lora_B)


# ---- the plain-torch fallback BERT (used only without transformers) ---------------------------

def read_safetensors(path):
    """The float32 tensors of a .safetensors file (header: u64 length, JSON; then the data)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            fail("plain-torch BERT reads float32 checkpoints only (%s is %s)" % (name, info["dtype"]))
        a, b = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(info["shape"])
    return out


class PlainBert(nn.Module):
    """BertForSequenceClassification's computation (post-LN encoder, erf GELU, tanh pooler)."""

    def __init__(self, cfg, num_labels, hidden_dropout):
        super().__init__()
        C, I, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
        self.heads, self.eps = cfg["num_attention_heads"], cfg.get("layer_norm_eps", 1e-12)
        self.word = nn.Embedding(cfg["vocab_size"], C)
        self.pos = nn.Embedding(cfg["max_position_embeddings"], C)
        self.token_type = nn.Embedding(max(cfg.get("type_vocab_size", 2), 1), C)
        self.ln = nn.LayerNorm(C, eps=self.eps)
        self.layers = nn.ModuleList()
        for _ in range(L):
            self.layers.append(nn.ModuleDict({
                "query": nn.Linear(C, C), "key": nn.Linear(C, C), "value": nn.Linear(C, C),
                "attn_out": nn.Linear(C, C), "ln1": nn.LayerNorm(C, eps=self.eps),
                "inter": nn.Linear(C, I), "out": nn.Linear(I, C),
                "ln2": nn.LayerNorm(C, eps=self.eps)}))
        self.pooler = nn.Linear(C, C)
        self.classifier = nn.Linear(C, num_labels)
        self.drop = nn.Dropout(hidden_dropout)

    def load(self, tensors):
        def put(module, prefix):
            module.weight.data.copy_(tensors[prefix + ".weight"])
            if getattr(module, "bias", None) is not None:
                module.bias.data.copy_(tensors[prefix + ".bias"])
        put(self.word, "bert.embeddings.word_embeddings")
        put(self.pos, "bert.embeddings.position_embeddings")
        put(self.token_type, "bert.embeddings.token_type_embeddings")
        put(self.ln, "bert.embeddings.LayerNorm")
        names = {"query": "attention.self.query", "key": "attention.self.key",
                 "value": "attention.self.value", "attn_out": "attention.output.dense",
                 "ln1": "attention.output.LayerNorm", "inter": "intermediate.dense",
                 "out": "output.dense", "ln2": "output.LayerNorm"}
        for i, layer in enumerate(self.layers):
            for key, name in names.items():
                put(layer[key], "bert.encoder.layer.%d.%s" % (i, name))
        put(self.pooler, "bert.pooler.dense")
        if "classifier.weight" in tensors:
            put(self.classifier, "classifier")

    def forward(self, input_ids, attention_mask, token_type_ids, labels):
        B, T = input_ids.shape
        H = self.heads
        pos = torch.arange(T).expand(B, T)
        x = self.drop(self.ln(self.word(input_ids) + self.pos(pos) + self.token_type(token_type_ids)))
        bias = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            def heads(t):
                return t.view(B, T, H, -1).transpose(1, 2)
            q, k, v = heads(layer["query"](x)), heads(layer["key"](x)), heads(layer["value"](x))
            s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias
            c = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, -1)
            a = layer["ln1"](self.drop(layer["attn_out"](c)) + x)
            h = layer["out"](F.gelu(layer["inter"](a)))
            x = layer["ln2"](self.drop(h) + a)
        logits = self.classifier(self.drop(torch.tanh(self.pooler(x[:, 0]))))
        return F.cross_entropy(logits, labels)


# ---- the step ----------------------------------------------------------------------------------

def build_model(args):
    """(model, loss_fn, description); the model's base is frozen and LoRA is inserted."""
    dropout = 0.1
    try:
        import transformers
        from transformers import AutoConfig, AutoModelForSequenceClassification
        transformers.logging.set_verbosity_error()
        cfg = AutoConfig.from_pretrained(args.model, num_labels=args.labels)
        # Hidden dropout as adarank-cl applies it; no attention-probability dropout (it has none).
        for key, p in (("hidden_dropout_prob", dropout), ("attention_probs_dropout_prob", 0.0),
                       ("resid_pdrop", dropout), ("embd_pdrop", dropout), ("attn_pdrop", 0.0)):
            if hasattr(cfg, key):
                setattr(cfg, key, p)
        model = AutoModelForSequenceClassification.from_pretrained(args.model, config=cfg)
        impl = "transformers %s %s" % (transformers.__version__, type(model).__name__)

        def loss_fn(ids, mask, types, labels):
            return model(input_ids=ids, attention_mask=mask, token_type_ids=types,
                         labels=labels).loss
    except ImportError:
        with open(os.path.join(args.model, "config.json")) as f:
            cfg = json.load(f)
        model = PlainBert(cfg, args.labels, dropout)
        model.load(read_safetensors(os.path.join(args.model, "model.safetensors")))
        impl = "plain-torch BERT (transformers not importable)"
        loss_fn = model
    for p in model.parameters():
        p.requires_grad_(False)
    targets = [t for t in args.targets.split(",") if t]
    adapted = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            path = "%s.%s" % (name, child_name) if name else child_name
            if isinstance(child, nn.Linear) and "classifier" not in path and any(
                    path == t or path.endswith("." + t) for t in targets):
                setattr(module, child_name, LoraLinear(child, args.rank, float(args.rank)))
                adapted += 1
    if targets and adapted == 0:
        fail("no nn.Linear matches the targets %r" % args.targets)
    for name, p in model.named_parameters():
        if "lora_" in name or "classifier" in name:
            p.requires_grad_(True)
    return model, loss_fn, impl, adapted


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--targets", default="query,value")
    ap.add_argument("--labels", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        model, loss_fn, impl, adapted = build_model(args)
    except Exception as e:  # noqa: BLE001 - report any loading failure to the caller
        fail("cannot build the model from %s: %s" % (args.model, e))
    model.train()
    vocab = model.config.vocab_size if hasattr(model, "config") else model.word.num_embeddings
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.01)

    # A full-length synthetic batch, as adarank-cl builds it: no padding, one segment.
    gen = torch.Generator().manual_seed(7)
    ids = torch.randint(1, vocab, (args.batch, args.seq), generator=gen)
    mask = torch.ones(args.batch, args.seq, dtype=torch.long)
    types = torch.zeros(args.batch, args.seq, dtype=torch.long)
    labels = torch.randint(0, args.labels, (args.batch,), generator=gen)

    times, cpu, losses = [], [], []
    for i in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(ids, mask, types, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        losses.append(loss.item())
        if i >= args.warmup:
            times.append(dt * 1e3)
            cpu.append(dc * 1e3)
    print(json.dumps({
        "ok": True, "impl": impl, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "adapted_modules": adapted, "trainable_params": sum(p.numel() for p in trainable),
        "frozen_params": frozen, "step_ms": statistics.median(times), "steps_ms": times,
        "cpu_ms": statistics.median(cpu),
        "loss_first": losses[0], "loss_last": losses[-1],
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    main()
