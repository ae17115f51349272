#!/usr/bin/env python3
"""Markdown table of the runs tests/bench/compare_methods.sh leaves in OUT_DIR.

For every run folder METHOD-sSEED with a summary.json (the `train --json` summary): final
validation accuracy and macro F1, test accuracy, the trainable parameters of the exported adapter
(LoRA factors at their kept ranks; the classifier head is counted apart) and the wall time.
DyLoRA adds a row for its best rank below R (dylora_ranks.tsv: the same adapter evaluated at
every rank). Python standard library only.
"""
import argparse
import json
import os
import struct
import sys

LABELS = {
    "lora8": "LoRA r=8 (uniform)",
    "lora4": "LoRA r=4 (uniform)",
    "sora": "SoRA",
    "adalora": "AdaLoRA (target r=4)",
    "dylora": "DyLoRA",
    "autolora": "AutoLoRA (search + retrain)",
    "flexora": "Flexora (search + retrain)",
}


def safetensors_counts(path):
    """(lora factor floats, other floats) of an adapter_model.safetensors."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    lora = other = 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for d in t["shape"]:
            count *= d
        if ".lora_A." in name or ".lora_B." in name:
            lora += count
        else:
            other += count
    return lora, other


def fmt(v, digits=4):
    return "–" if v is None else f"{v:.{digits}f}"


def dylora_rows(run):
    path = os.path.join(run, "dylora_ranks.tsv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(head, line.rstrip("\n").split("\t"))) for line in f if line.strip()]
    return rows


def print_header(runs, steps):
    cfg = {}
    if runs:
        with open(os.path.join(runs[0][3], "config.json")) as f:
            cfg = json.load(f)
    seeds = sorted({r[2] for r in runs}) or ["0"]
    print("# Rank methods on the default job\n")
    print("Produced by `tests/bench/compare_methods.sh` (one command; see its header):\n")
    print("```\nMAX_STEPS=%s TABLE=docs/results.md tests/bench/compare_methods.sh runs/compare %s\n```\n"
          % (steps, " ".join(seeds)))
    print(f"Every run is `adarank-cl train --config data/default.json` "
          f"({os.path.basename(os.path.normpath(cfg.get('model', '?')))}, "
          f"fine-foods sentiment, validation = {cfg.get('validation_fraction', '?')} of the "
          "training file, the 1000-row test file) with "
          f"`--max-steps {steps} --eval-every 0 --seed S --method M`: batch "
          f"{cfg.get('batch', '?')}, lr {cfg.get('lr', '?')} ({cfg.get('schedule', '?')}), "
          f"max length {cfg.get('max_length', '?')}, LoRA on {cfg.get('targets', '?')}, "
          f"r = 8, alpha = 16 (LoRA r=4: alpha 8), each method with its default parameters "
          f"(`adarank-cl train --help`). Seeds: {', '.join(seeds)}. Scores are those of the "
          "final step; the test accuracy is of the exported model. \"LoRA params\" counts the "
          "exported adapter's lora_A/lora_B floats at the kept ranks, \"head params\" the "
          "classifier saved with it (modules_to_save). Time is wall-clock on the shared 2-core "
          "CPU machine running PoCL, with other jobs competing, so only a rough guide.\n")
    print(f"AutoLoRA and Flexora first search for "
          f"{cfg.get('autolora_search_fraction', 0.5)} x {steps} steps on "
          f"{100 - 100 * cfg.get('autolora_val_fraction', 0.3):.0f}% of the training split "
          "(the rest is their search split), then retrain a fresh LoRA at the found ranks for "
          f"{steps} steps on the whole training split; their time covers both stages.\n")


def print_means(runs):
    """Mean over seeds per method: the view the claim is about (fewer parameters, same score)."""
    by = {}
    for _, method, seed, run in runs:
        with open(os.path.join(run, "summary.json")) as f:
            s = json.load(f)
        lora, _ = safetensors_counts(os.path.join(run, "adapter", "adapter_model.safetensors"))
        val, test = s.get("validation") or {}, s.get("test") or {}
        by.setdefault(method, []).append((val.get("accuracy"), test.get("accuracy"), lora))
    if not by:
        return
    print("Mean over the seeds above (final step; for DyLoRA the adapter at r=8):\n")
    print("| method | seeds | validation acc | test acc | LoRA params |")
    print("|---|---|---|---|---|")
    for method in [m for m in LABELS if m in by] + [m for m in by if m not in LABELS]:
        rows = by[method]

        def mean(i):
            vals = [r[i] for r in rows if r[i] is not None]
            return sum(vals) / len(vals) if vals else None
        print(f"| {LABELS.get(method, method)} | {len(rows)} | {fmt(mean(0))} | {fmt(mean(1))} | "
              f"{mean(2):.0f} |")
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--steps", default="?")
    a = ap.parse_args()
    runs = []
    for name in sorted(os.listdir(a.out_dir)):
        run = os.path.join(a.out_dir, name)
        if not os.path.isfile(os.path.join(run, "summary.json")) or "-s" not in name:
            continue
        method, seed = name.rsplit("-s", 1)
        runs.append((list(LABELS).index(method) if method in LABELS else 99, method, seed, run))
    runs.sort()
    print_header(runs, a.steps)
    print("| method | seed | validation loss | validation acc | validation F1 | test acc | "
          "LoRA params | head params | ranks (total) | time (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    missing = [m for m in LABELS if not any(r[1] == m for r in runs)]
    for _, method, seed, run in runs:
        with open(os.path.join(run, "summary.json")) as f:
            s = json.load(f)
        val, test = s.get("validation") or {}, s.get("test") or {}
        lora, head = safetensors_counts(os.path.join(run, "adapter", "adapter_model.safetensors"))
        ranks = "–"
        try:
            with open(os.path.join(run, "adapter", "adarank_state.json")) as f:
                st = json.load(f)
            ranks = str(sum(m["rank"] for m in st.get("modules", [])))
        except (OSError, ValueError):
            pass
        wall = "?"
        try:
            with open(os.path.join(run, "wall_s")) as f:
                wall = f.read().strip()
        except OSError:
            pass
        label = LABELS.get(method, method)
        if method == "dylora":
            rows = dylora_rows(run)
            label += f" at r={max(int(x['rank']) for x in rows) if rows else 8}"
        print(f"| {label} | {seed} | {fmt(val.get('loss'))} | {fmt(val.get('accuracy'))} | "
              f"{fmt(val.get('f1'))} | "
              f"{fmt(test.get('accuracy'))} | {lora} | {head} | {ranks} | {wall} |")
        if method == "dylora":
            rows = dylora_rows(run)
            if rows:
                # best = highest accuracy, then lowest loss, then the smaller rank
                smaller = [x for x in rows if int(x["rank"]) < max(int(y["rank"]) for y in rows)]
                best = max(smaller, key=lambda r: (float(r["validation_accuracy"]),
                                                   -float(r["validation_loss"]), -int(r["rank"])),
                           default=None)
                if best:
                    r = int(best["rank"])
                    print(f"| DyLoRA at r={r} (best smaller rank, same adapter) | {seed} | "
                          f"{fmt(float(best['validation_loss']))} | "
                          f"{fmt(float(best['validation_accuracy']))} | "
                          f"{fmt(float(best['validation_f1']))} | "
                          f"{fmt(float(best['test_accuracy'])) if 'test_accuracy' in best else '–'} | "
                          f"{best['lora_params']} | {head} | – | – |")
    print()
    print_means(runs)
    if missing:
        print(f"Not run or not finished: {', '.join(missing)}.")


if __name__ == "__main__":
    sys.exit(main())
