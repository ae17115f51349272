#!/usr/bin/env python3
"""Writes the Unicode data the tokenizers need into DIR (default core/): unicode_tables.c
(character classes and lowercasing) and unicode_strip_table.c (accent stripping).

    python3 -m pip install tokenizers==0.23.3    # the version the tables were made with
    python3 core/gen_unicode_tables.py core

Why the tables are probed from `tokenizers` rather than read from unicodedata alone: the ids must
match Hugging Face `tokenizers` exactly, and its Rust crates use different Unicode versions for
different steps: BERT's punctuation, control and non-spacing-mark classes come from the old
unicode_categories crate, the split patterns' \\p{L} \\p{N} \\s from Oniguruma (newer than
Python 3.11's unicodedata 14.0), lower-casing from Rust's std. So every code point is run
through the very components being reimplemented, and unicodedata (whose version the header
records) only serves to report how many code points disagree with it.

Tables (see core/unicode.h for how they are read):
  * ar__uc_class_starts: the code space cut into runs of equal flags, each entry packed as
    (first code point << 8 | flags); a run ends where the next one starts. Flags:
    AR__UC_L / AR__UC_N / AR__UC_S (\\p{L} \\p{N} \\s of the split patterns), AR__UC_P
    (BertPreTokenizer isolates it), AR__UC_CTRL (BertNormalizer's clean_text drops it),
    AR__UC_MARK (strip_accents drops it).
  * ar__uc_lower_runs: one-code-point lower-case mappings (the Lowercase normalizer) as runs
    with a common stride and offset; ar__uc_lower_multi: the longer ones.
  * ar__uc_strip: what strip_accents (NFD, then non-spacing marks dropped) leaves of each
    code point it changes, other than Hangul syllables (algorithmic, in unicode.c) and the
    code points it removes (AR__UC_MARK).
"""
import os
import sys
import unicodedata as ud

import tokenizers
from tokenizers import Regex, normalizers, pre_tokenizers

L, N, S, P, CTRL, MARK = 1, 2, 4, 8, 16, 32
CPS = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]


def per_cp_outputs(normalizer, sep):
    """normalizer applied to each code point alone: joined by sep, which it must keep as is
    (and which is known to map to itself)."""
    cps = [cp for cp in CPS if cp != ord(sep)]
    out = normalizer.normalize_str(sep + sep.join(chr(cp) for cp in cps) + sep).split(sep)[1:-1]
    assert len(out) == len(cps)
    return {**dict(zip(cps, out)), ord(sep): sep}


def isolated(pre_tokenizer, sep):
    """Code points that the pre-tokenizer cuts out as a piece of their own between seps (sep
    itself is known not to be)."""
    text = sep + sep.join(chr(cp) for cp in CPS if cp != ord(sep)) + sep
    alone = set()
    for piece, (start, end) in pre_tokenizer.pre_tokenize_str(text):
        if end - start == 1 and piece != sep:
            alone.add(ord(piece))
    return alone


def dropped(pre_tokenizer, sep):
    """Code points that the pre-tokenizer leaves out of every piece (BERT's whitespace)."""
    text = sep + sep.join(chr(cp) for cp in CPS if cp != ord(sep)) + sep
    covered = bytearray(len(text))
    for _, (start, end) in pre_tokenizer.pre_tokenize_str(text):
        for i in range(start, end):
            covered[i] = 1
    return {ord(text[i]) for i in range(len(text)) if not covered[i]}


def flags_table():
    flags = dict.fromkeys(range(0x110000), 0)
    for bit, cls in ((L, r"\p{L}"), (N, r"\p{N}"), (S, r"\s")):
        for cp in isolated(pre_tokenizers.Split(Regex(cls), behavior="isolated"), "!"):
            flags[cp] |= bit
    bert = pre_tokenizers.BertPreTokenizer()
    for cp in isolated(bert, "x"):
        flags[cp] |= P
    assert dropped(bert, "x") == {cp for cp in CPS if flags[cp] & S}, "two kinds of whitespace"
    clean = per_cp_outputs(normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                                      strip_accents=False, lowercase=False), "x")
    for cp, out in clean.items():
        if out == "":
            flags[cp] |= CTRL
        else:
            assert out == chr(cp) or (out == " " and flags[cp] & S), hex(cp)
    strip = per_cp_outputs(normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                                      strip_accents=True, lowercase=False), "\x01")
    for cp, out in strip.items():
        if out == "":
            flags[cp] |= MARK
    return flags, strip


def runs_of(flags):
    starts, prev = [], None
    for cp in range(0x110000):
        if flags[cp] != prev:
            starts.append((cp, flags[cp]))
            prev = flags[cp]
    return starts


def lower_tables():
    low = per_cp_outputs(normalizers.Lowercase(), "\x01")
    pairs = [(cp, ord(s) - cp) for cp, s in low.items() if len(s) == 1 and s != chr(cp)]
    multi = [(cp, [ord(c) for c in s]) for cp, s in low.items() if len(s) > 1]
    runs = []  # (first, count, stride, delta)
    i = 0
    while i < len(pairs):
        first, delta = pairs[i]
        count, stride = 1, 1
        if i + 1 < len(pairs) and pairs[i + 1][1] == delta and pairs[i + 1][0] - first <= 2:
            stride = pairs[i + 1][0] - first
            while (i + count < len(pairs) and pairs[i + count][1] == delta
                   and pairs[i + count][0] == first + count * stride):
                count += 1
        runs.append((first, count, stride, delta))
        i += count
    return runs, multi


def hangul(cp):
    s = cp - 0xAC00
    out = [0x1100 + s // 588, 0x1161 + (s % 588) // 28]
    return out + [0x11A7 + s % 28] if s % 28 else out


def strip_entries(strip):
    out = []
    for cp in CPS:
        s = strip[cp]
        if 0xAC00 <= cp <= 0xD7A3:
            assert [ord(c) for c in s] == hangul(cp)
        elif s != "" and s != chr(cp):
            assert len(s) <= 3
            out.append((cp, [ord(c) for c in s]))
    return out


def unicodedata_disagreements(flags):
    """Code points whose flags differ from what Python's unicodedata categories give."""
    n = 0
    for cp in CPS:
        cat = ud.category(chr(cp))
        want = ((L if cat[0] == "L" else 0) | (N if cat[0] == "N" else 0) |
                (P if cat[0] == "P" or (cp < 128 and not chr(cp).isalnum() and 32 < cp < 127)
                 else 0))
        n += (flags[cp] & (L | N | P)) != want
    return n


def write_rows(w, cells):
    """Writes comma-separated cells, as many per line as fit in 100 columns."""
    line = "   "
    for cell in cells:
        if len(line) + len(cell) + 2 > 100:
            w(line + "\n")
            line = "   "
        line += " " + cell + ","
    w(line + "\n")


def header(w, what, disagreements):
    w("/* GENERATED by core/gen_unicode_tables.py, probing tokenizers %s code point by code\n"
      " * point (%d code points have other letter/number/punctuation classes in Python's\n"
      " * unicodedata %s): %s. Do not edit: run\n"
      " *     python3 core/gen_unicode_tables.py core */\n"
      % (tokenizers.__version__, disagreements, ud.unidata_version, what))
    w('#include "unicode.h"\n\n')


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "core"
    flags, strip = flags_table()
    starts = runs_of(flags)
    runs, multi = lower_tables()
    stripped = strip_entries(strip)
    disagreements = unicodedata_disagreements(flags)

    with open(os.path.join(out, "unicode_tables.c"), "w") as f:
        w = f.write
        header(w, "character classes and lowercasing", disagreements)
        w('const char ar__uc_source[] = "tokenizers %s";\n\n' % tokenizers.__version__)
        w("/* The flags of U+0000..U+007F, for a lookup without search. */\n")
        w("const uint8_t ar__uc_ascii_flags[128] = {\n")
        write_rows(w, ["%d" % flags[cp] for cp in range(128)])
        w("};\n\n")
        w("const uint32_t ar__uc_class_starts[] = {\n")
        write_rows(w, ["0x%X<<8|%d" % s for s in starts])
        w("};\nconst size_t ar__uc_class_starts_count = %d;\n\n" % len(starts))
        w("/* {first, count, stride, delta}: cp = first + k*stride (k < count) lowers to cp + delta */\n")
        w("const struct ar__uc_lower_run ar__uc_lower_runs[] = {\n")
        write_rows(w, ["{0x%X, %d, %d, %d}" % r for r in runs])
        w("};\nconst size_t ar__uc_lower_runs_count = %d;\n\n" % len(runs))
        w("const struct ar__uc_strip ar__uc_lower_multi[] = {\n")
        write_rows(w, ["{0x%X, %d, {%s}}" % (cp, len(k), ", ".join("0x%X" % c for c in k))
                       for cp, k in multi])
        w("};\nconst size_t ar__uc_lower_multi_count = %d;\n" % len(multi))

    with open(os.path.join(out, "unicode_strip_table.c"), "w") as f:
        w = f.write
        header(w, "accent stripping", disagreements)
        w("/* {code point, kept count, kept code points}: NFD without non-spacing marks */\n")
        w("const struct ar__uc_strip ar__uc_strip[] = {\n")
        write_rows(w, ["{0x%X, %d, {%s}}" % (cp, len(k), ", ".join("0x%X" % c for c in k))
                       for cp, k in stripped])
        w("};\nconst size_t ar__uc_strip_count = %d;\n" % len(stripped))


if __name__ == "__main__":
    main()
