#!/usr/bin/python3
"""Writes the committed seed corpora tests/fuzz/corpus/<loader>/ from the project's real files
(tests/fixtures, data/, the MiniLM checkpoint under .cache/models). Run from anywhere with
Debian's python3; it needs no third-party module. Seeds are kept small (a loader's folder stays
under 50 KB): large files are cut at a line or trimmed to a consistent subset.

Some harnesses read control bytes before the file (see each fuzz_<loader>.c): safetensors (1:
file kind), dataset (1: format and options), metrics (1: where the file is cut),
tokenizer_encode (3: tokenizer, max_len, pair split), dataset_tokens (1: options, max_len),
dataset_lm (2: format, options, max_len), peft_adapter (2: the length of adapter_config.json)."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MINILM = os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2")
FIX = os.path.join(ROOT, "tests", "fixtures")


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def put(loader, name, data):
    d = os.path.join(HERE, "corpus", loader)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def head_lines(path, limit):
    out = b""
    for line in read(path).splitlines(keepends=True):
        if len(out) + len(line) > limit:
            break
        out += line
    return out


def remap_ids(node, remap):
    """Rewrites "id" / "ids" members (added tokens, post-processor specials) after trimming."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "id" and isinstance(v, int) and v in remap:
                node[k] = remap[v]
            elif k == "ids" and isinstance(v, list):
                node[k] = [remap.get(i, i) for i in v]
            else:
                remap_ids(v, remap)
    elif isinstance(node, list):
        for v in node:
            remap_ids(v, remap)


def trim_tokenizer(path, keep):
    d = json.loads(read(path))
    vocab = d["model"]["vocab"]
    added = {t["content"] for t in d["added_tokens"]}
    kept = sorted((i, t) for t, i in vocab.items() if keep(t, i) or t in added)
    remap = {old: new for new, (old, _) in enumerate(kept)}
    for t in d["added_tokens"]:
        if t["id"] not in remap:
            remap[t["id"]] = len(remap)
    d["model"]["vocab"] = {t: remap[i] for i, t in kept}
    if "merges" in d["model"]:
        names = set(d["model"]["vocab"])
        merges = []
        for m in d["model"]["merges"]:
            a, b = m.split(" ", 1) if isinstance(m, str) else m
            if a in names and b in names and a + b in names:
                merges.append(m)
        d["model"]["merges"] = merges
    remap_ids(d["added_tokens"], remap)
    remap_ids(d["post_processor"], remap)
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] -> a .safetensors file."""
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def real_tensors(path, limit):
    """The first tensors of a real checkpoint, each cut to at most `limit` bytes of data."""
    raw = read(path)
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "F64": 8, "I32": 4}
    out = []
    for name, t in sorted(header.items())[:4]:
        a, b = t["data_offsets"]
        data = raw[8 + n + a:8 + n + b]
        size = sizes.get(t["dtype"], 1)
        if len(data) > limit:
            data = data[:limit - limit % size]
            out.append((name, t["dtype"], [len(data) // size], data))
        else:
            out.append((name, t["dtype"], t["shape"], data))
    return out, meta


def main():
    # json: real documents of every kind the reader serves.
    put("json", "minilm_config.json", read(os.path.join(MINILM, "config.json")))
    put("json", "default.json", read(os.path.join(ROOT, "data", "default.json")))
    put("json", "clblast_xgemm.json", read(os.path.join(ROOT, "data", "clblast", "pocl-haswell-xgemm.json")))
    put("json", "data_config_head.json", read(os.path.join(MINILM, "data_config.json"))[:3000])
    put("json", "escapes.json", '{"a":"\\u00e9\\ud83d\\ude00\\n\\"","b":[1,-0.5e-3,1e308,true,false,null],"c":{}}')

    # safetensors: byte 0 even = a .safetensors file, odd = an index.json beside a.safetensors.
    for fix in ("bert_tiny", "gpt2_tiny", "llama_tiny"):
        ts, meta = real_tensors(os.path.join(FIX, fix, "model.safetensors"), 64)
        put("safetensors", fix + ".bin", b"\0" + safetensors(ts, meta))
    put("safetensors", "dtypes.bin", b"\0" + safetensors([
        ("bf16", "BF16", [2], b"\x80\x3f\x00\xc0"), ("f16", "F16", [2, 1], b"\x00\x3c\x00\x7c"),
        ("f64", "F64", [1], struct.pack("<d", 1.5)), ("i64", "I64", [], struct.pack("<q", -3)),
        ("i8", "I8", [3], b"\x01\x80\x7f"), ("u8", "U8", [0], b""), ("b", "BOOL", [1], b"\x01"),
        ("i32", "I32", [1], struct.pack("<i", 7)), ("i16", "I16", [1], b"\x02\x00")],
        {"format": "pt"}))
    put("safetensors", "index.bin", b"\1" + json.dumps(
        {"metadata": {"total_size": 12}, "weight_map": {"x": "a.safetensors", "y": "a.safetensors"}}).encode())

    # model_config: every architecture's real config.json.
    put("model_config", "minilm.json", read(os.path.join(MINILM, "config.json")))
    for fix in ("bert_tiny", "bert_tiny/micro_roberta", "bert_tiny/micro_legacy", "gpt2_tiny",
                "llama_tiny", "llama_gqa", "bert_tiny/bad_config"):
        put("model_config", fix.replace("/", "_") + ".json", read(os.path.join(FIX, fix, "config.json")))

    # tokenizer: WordPiece (MiniLM) and byte-level BPE (GPT-2, Llama-3), trimmed vocabularies.
    def minilm_keep(t, i):
        return i < 110 or 1996 <= i < 2150 or (t.startswith("##") and i < 3000)
    put("tokenizer", "minilm_trimmed.json", trim_tokenizer(os.path.join(MINILM, "tokenizer.json"), minilm_keep))
    put("tokenizer", "gpt2_trimmed.json", trim_tokenizer(os.path.join(FIX, "bpe_tokenizer.json"), lambda t, i: i < 400))
    put("tokenizer", "llama3_trimmed.json", trim_tokenizer(os.path.join(FIX, "bpe_llama3_tokenizer.json"), lambda t, i: i < 400))

    # tokenizer_encode: 3 control bytes, then text (from the fixtures' texts and the data).
    rows = [l.split("\t") for l in read(os.path.join(FIX, "tokens.tsv"), "r").splitlines()
            if not l.startswith("#")]
    texts = sorted({r[3] for r in rows if len(r) > 4})[:24]
    for k, text in enumerate(texts):
        put("tokenizer_encode", "text%02d" % k, bytes([k % 8, 64 if k % 3 else 8, 128]) + text.encode())
    put("tokenizer_encode", "review", b"\x05\x80\x60" + head_lines(os.path.join(ROOT, "data", "fine-foods", "train.tsv"), 2000))

    # dataset: byte 0 = (format: 0 tsv, 1 csv, 2 jsonl) | columns << 2 | 16 skip bad | 32 labels.
    tsv = head_lines(os.path.join(ROOT, "data", "fine-foods", "train.tsv"), 6000)
    put("dataset", "fine_foods.tsv", b"\x00" + tsv)
    rows = [l.split(b"\t", 1) for l in tsv.splitlines()[1:]]
    csv = b"text,label\n" + b"".join(b'"' + t.replace(b'"', b'""') + b'",' + lab + b"\n" for lab, t in rows[:20])
    put("dataset", "fine_foods.csv", b"\x01" + csv)
    jsonl = b"".join(json.dumps({"text": t.decode("utf-8", "replace"), "label": lab.decode()}).encode() + b"\n"
                     for lab, t in rows[:20])
    put("dataset", "fine_foods.jsonl", b"\x02" + jsonl)
    put("dataset", "pair.tsv", b"\x18text_a\ttext_b\tlabel\nA man.\tA person.\tyes\nCats.\tDogs.\tno\n")
    put("dataset", "prompt.jsonl", b'\x0e{"prompt":"Q: 1+1?","completion":" 2"}\n{"prompt":"Hi","completion":"!"}\n')
    put("dataset", "multiline.csv", b'\x21text,label\n"a ""quoted""\nline",neg\nplain,pos\n,0\n')

    # metrics: byte 0 = where the file is cut (0..255 of its length); real runs, cut at a line.
    put("metrics", "run_sora", b"\x80" + head_lines(os.path.join(FIX, "run_sora", "metrics.jsonl"), 8000))
    put("metrics", "run_flexora", b"\x40" + head_lines(os.path.join(ROOT, "tests", "gui", "run_flexora", "metrics.jsonl"), 8000))

    # train_config: the shipped default and a few variants.
    put("train_config", "default.json", read(os.path.join(ROOT, "data", "default.json")))
    put("train_config", "adalora.json", '{"method":"adalora","targets":"query,key,value,dense","labels":["neg","pos"],"model":null,"lr":1e-4}')
    put("train_config", "empty.json", "{}")

    # tuning: the shipped CLBlast tables.
    for f in sorted(os.listdir(os.path.join(ROOT, "data", "clblast"))):
        put("tuning", f, read(os.path.join(ROOT, "data", "clblast", f)))


    # dataset_tokens: byte 0 = 1 skip bad | 2 fixed tags | 4 words/tags columns | max_len-2 << 3.
    ner = head_lines(os.path.join(FIX, "ner_tiny.jsonl"), 3000)
    put("dataset_tokens", "ner_tiny.jsonl", b"\x40" + ner)
    put("dataset_tokens", "ner_short.jsonl", b"\x09" + ner.splitlines(keepends=True)[0])
    put("dataset_tokens", "int_tags.jsonl", b"\x22" + b'{"tokens":["a","","c"],"ner_tags":[0,3,1]}\n'
        b'{"tokens":[],"ner_tags":[]}\n')
    put("dataset_tokens", "named.jsonl", b"\xfc" + b'{"words":["x","y"],"tags":["O","B-LOC"]}\n')

    # dataset_lm: byte 0 = format (0 jsonl, 1 tsv, 2 csv) | 4 skip bad | 8 bos | max_len low bits
    # << 4, byte 1 = max_len high bits (bit 7: a small max_len).
    pc = head_lines(os.path.join(FIX, "prompt_completion.jsonl"), 3000)
    put("dataset_lm", "prompt_completion.jsonl", b"\x08\x04" + pc)
    put("dataset_lm", "short_max.jsonl", b"\x38\x80" + pc.splitlines(keepends=True)[0])
    put("dataset_lm", "prompt.tsv", b"\x01\x02prompt\tcompletion\nQ: hi\t there\n\tx\n")
    put("dataset_lm", "prompt.csv", b"\x06\x81prompt,completion\n\"a, b\",c\nd,\n")

    # peft_adapter: 2 bytes little endian = the length of adapter_config.json, then it, then
    # adapter_model.safetensors (the committed PEFT fixture).
    cfg = read(os.path.join(FIX, "peft_adapter", "adapter_config.json"))
    weights = read(os.path.join(FIX, "peft_adapter", "adapter_model.safetensors"))
    put("peft_adapter", "bert_tiny", struct.pack("<H", len(cfg)) + cfg + weights)
    small = json.loads(cfg)
    small.update({"r": 1, "lora_alpha": 2, "use_rslora": True, "rank_pattern": {"query": 1},
                  "alpha_pattern": {"value": 4}, "target_modules": ["query", "value"],
                  "modules_to_save": None, "task_type": "CAUSAL_LM"})
    small = json.dumps(small).encode()
    put("peft_adapter", "tiny_rslora", struct.pack("<H", len(small)) + small + safetensors([
        ("base_model.model.encoder.layer.0.attention.self.query.lora_A.weight", "F32", [1, 2],
         struct.pack("<2f", 1.0, 2.0)),
        ("base_model.model.encoder.layer.0.attention.self.query.lora_B.weight", "F16", [2, 1],
         struct.pack("<2e", 0.5, -0.5)),
    ]))


main()
