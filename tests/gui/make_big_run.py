#!/usr/bin/python3
"""Writes a large synthetic run for the GUI's scale check: OUT_DIR/metrics.jsonl with
MODULES gated modules and STEPS steps (defaults 144 = 12 layers x 12 modules, 100000 steps),
a ranks snapshot every 100 steps and an eval every 5000. Shape as in make_flexora_run.py
(ranks die one by one); deterministic. Usage: make_big_run.py OUT_DIR [MODULES] [STEPS]"""
import json
import os
import random
import sys

out = sys.argv[1]
n_mod = int(sys.argv[2]) if len(sys.argv) > 2 else 144
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
R, EVERY, PER_LAYER = 16, 100, 12
random.seed(1)
modules = [{"name": f"model.layers.{i // PER_LAYER}.proj_{i % PER_LAYER}", "layer": i // PER_LAYER,
            "in": 1024, "out": 1024, "rank": R} for i in range(n_mod)]
death = [[random.randint(steps // 50, steps) if j >= 2 else None for j in range(R)]
         for _ in range(n_mod)]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "metrics.jsonl"), "w") as f:
    def put(obj):
        f.write(json.dumps(obj, separators=(",", ":")) + "\n")
    put({"event": "run_start", "schema": 1, "time": 0, "method": "sora", "model": "big",
         "device": "synthetic", "layers": (n_mod + PER_LAYER - 1) // PER_LAYER, "config": {},
         "modules": modules})
    loss = 2.0
    for s in range(1, steps + 1):
        loss = max(0.1, loss * 0.99997 + random.uniform(-0.02, 0.02))
        put({"event": "step", "step": s, "epoch": s / 10000, "loss": round(loss, 4),
             "lr": 1e-4, "tokens_per_s": 9000, "elapsed": s * 0.05})
        if s % EVERY == 0:
            eff = [sum(1 for d in death[i] if d is None or d > s) for i in range(n_mod)]
            put({"event": "ranks", "step": s, "effective": eff, "allocated": [R] * n_mod,
                 "total_sparsity": 1 - sum(eff) / (R * n_mod)})
        if s % 5000 == 0:
            put({"event": "eval", "step": s, "split": "validation", "loss": round(loss, 4),
                 "accuracy": 0.5 + s / (4 * steps)})
