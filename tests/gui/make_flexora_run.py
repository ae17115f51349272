#!/usr/bin/python3
"""Writes tests/gui/run_flexora/metrics.jsonl: a small synthetic Flexora run (6 layers x
query,value = 12 modules, r 8, 300 steps) for the GUI's Layers view, its screenshot and test.

Not a real training run. The shape follows Flexora (METHODS.md): during the search stage
(steps 0-120) every layer's score (softmax of its hyperparameter logit) drifts apart; at the end
of the search the top half of the layers is selected, and the modules of the other layers are
switched off (effective rank 0). Deterministic (fixed seed); run with Debian's /usr/bin/python3,
no packages needed."""
import json
import math
import os
import random

random.seed(7)
HERE = os.path.dirname(os.path.abspath(__file__))
LAYERS, R, STEPS, SEARCH, EVERY = 6, 8, 300, 120, 10
modules = [{"name": f"bert.encoder.layer.{l}.attention.self.{s}", "layer": l, "in": 384,
            "out": 384, "rank": R} for l in range(LAYERS) for s in ("query", "value")]
target = [0.6, -0.4, 1.1, -0.8, 0.9, 0.2]  # where each layer's logit drifts to


def scores(step):
    t = min(step, SEARCH) / SEARCH
    logits = [t * target[l] + 0.05 * math.sin(step / 9 + l) for l in range(LAYERS)]
    z = sum(math.exp(v) for v in logits)
    return [math.exp(v) / z for v in logits]


final = scores(SEARCH)
chosen = sorted(range(LAYERS), key=lambda l: -final[l])[:LAYERS // 2]
lines = [{"event": "run_start", "schema": 1, "time": 1767225600, "method": "flexora",
          "model": "all-MiniLM-L6-v2", "device": "Portable Computing Language / cpu",
          "layers": LAYERS, "config": {"lr": 5e-4, "rank": R, "flexora": {"search_steps": SEARCH}},
          "modules": modules}]
loss = 0.72
for step in range(1, STEPS + 1):
    loss = max(0.25, loss - 0.0016 + random.uniform(-0.01, 0.01))
    lr = 5e-4 * min(1.0, step / 30) * (1 - step / (STEPS + 1))
    lines.append({"event": "step", "step": step, "epoch": step / 150, "loss": round(loss, 4),
                  "lr": lr, "grad_norm": round(1 + random.random(), 3), "tokens_per_s": 5200,
                  "elapsed": round(step * 0.4, 2)})
    if step % EVERY == 0:
        sc = scores(step)
        selected = [l in chosen if step >= SEARCH else True for l in range(LAYERS)]
        eff = [R if selected[m["layer"]] else 0 for m in modules]
        lines.append({"event": "ranks", "step": step, "effective": eff, "allocated": [R] * len(modules),
                      "flexora": {"score": [round(v, 5) for v in sc], "selected": selected}})
    if step % 100 == 0:
        lines.append({"event": "eval", "step": step, "split": "validation",
                      "loss": round(loss + 0.05, 4), "accuracy": round(0.7 + step / 2000, 4)})
lines.append({"event": "run_end", "step": STEPS, "status": "completed", "elapsed": STEPS * 0.4,
              "final_ranks": [R if m["layer"] in chosen else 0 for m in modules]})
os.makedirs(os.path.join(HERE, "run_flexora"), exist_ok=True)
with open(os.path.join(HERE, "run_flexora", "metrics.jsonl"), "w") as f:
    for line in lines:
        f.write(json.dumps(line, separators=(",", ":")) + "\n")
