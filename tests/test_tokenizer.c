/* Tokenizers against Hugging Face `tokenizers`: every row of fixtures/tokens.tsv (written by
 * fixtures/gen_tokens.py) must give exactly the same ids and type ids, for the real
 * all-MiniLM-L6-v2 WordPiece tokenizer and four small byte-level BPE tokenizers (GPT-2 style
 * with both merges formats, RoBERTa style, Llama-3 style). "corpus" rows check a hash of the
 * ids of all 4,000 reviews of data/fine-foods/train.tsv, and time them. Then the lookups,
 * padding, and bad input: malformed files, unsupported components, invalid UTF-8. */
#include <time.h>

#include "test.h"
#include "unicode.h"

#define CAP 8192 /* ids per encoding when a row asks for no truncation */

static const char *data_dir(void)
{
    const char *d = getenv("ADARANK_TEST_DATA");
    return d ? d : "tests";
}

struct named {
    const char *name, *file; /* file relative to fixtures/, or NULL for the model's */
    struct ar_tokenizer *tok;
};
static struct named toks[] = {
    {"minilm", NULL, NULL},
    {"bpe", "bpe_tokenizer.json", NULL},
    {"bpe_merges_str", "bpe_tokenizer_merges_str.json", NULL},
    {"bpe_roberta", "bpe_tokenizer_roberta.json", NULL},
    {"llama3", "bpe_llama3_tokenizer.json", NULL},
};
#define N_TOKS (sizeof toks / sizeof toks[0])

static void load_all(void)
{
    char path[1024], err[512];
    for (size_t i = 0; i < N_TOKS; i++) {
        if (toks[i].file) {
            snprintf(path, sizeof path, "%s/fixtures/%s", data_dir(), toks[i].file);
        } else {
            const char *m = getenv("ADARANK_MODEL_DIR");
            if (m)
                snprintf(path, sizeof path, "%s/tokenizer.json", m);
            else /* the checkout's model cache, where setup.sh puts the checkpoint */
                snprintf(path, sizeof path, "%s/../.cache/models/all-MiniLM-L6-v2/tokenizer.json",
                         data_dir());
        }
        enum ar_status st = ar_tokenizer_load(path, &toks[i].tok, err, sizeof err);
        CHECK(st == AR_STATUS_OK, "loading %s: %s: %s", toks[i].name, ar_status_name(st), err);
    }
}

static struct ar_tokenizer *find_tok(const char *name)
{
    for (size_t i = 0; i < N_TOKS; i++)
        if (strcmp(toks[i].name, name) == 0) return toks[i].tok;
    return NULL;
}

/* Undoes gen_tokens.py's escape() in place; returns the length (text may hold NUL). */
static size_t unescape(char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] != '\\') {
            s[o++] = s[i];
            continue;
        }
        char c = s[++i];
        if (c == 'x') {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            s[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            s[o++] = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
        }
    }
    s[o] = '\0';
    return o;
}

static int parse_ids(const char *s, int32_t *out)
{
    int n = 0;
    char *end;
    for (long v = strtol(s, &end, 10); end != s && n < CAP; v = strtol(s, &end, 10)) {
        out[n++] = (int32_t)v;
        s = end;
    }
    return n;
}

static void print_ids(const char *what, const int32_t *ids, int n)
{
    fprintf(stderr, "  %s (%d):", what, n);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

static int32_t want_ids[CAP], want_types[CAP], got_ids[CAP], got_types[CAP];

static void check_row(int line, char **f)
{
    struct ar_tokenizer *tok = find_tok(f[0]);
    if (!tok) return; /* its load already failed */
    bool pair = strcmp(f[1], "pair") == 0;
    int max_len = atoi(f[2]);
    size_t len = unescape(f[3]), pair_len = unescape(f[4]);
    int nw = parse_ids(f[5], want_ids), nt = parse_ids(f[6], want_types), n = 0;
    char err[512] = "";
    enum ar_status st =
        ar_tokenizer_encode(tok, f[3], len, pair ? f[4] : NULL, pair_len, max_len ? max_len : CAP,
                            got_ids, got_types, &n, err, sizeof err);
    bool same = st == AR_STATUS_OK && n == nw && nt == nw &&
                memcmp(got_ids, want_ids, (size_t)n * sizeof *got_ids) == 0 &&
                memcmp(got_types, want_types, (size_t)n * sizeof *got_types) == 0;
    CHECK(same, "tokens.tsv line %d (%s, %s, max_len %d): \"%s\"%s%s%s: %s", line, f[0], f[1],
          max_len, f[3], pair ? " + \"" : "", pair ? f[4] : "", pair ? "\"" : "",
          st ? err : "ids differ");
    if (!same && st == AR_STATUS_OK) {
        print_ids("want", want_ids, nw);
        print_ids("got ", got_ids, n);
        print_ids("want types", want_types, nt);
        print_ids("got types ", got_types, n);
    }
}

/* gen_tokens.py's ids_hash: FNV-1a over every id as 4 little-endian bytes. */
static uint64_t hash_ids(uint64_t h, const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 4; b++)
            h = (h ^ (((uint32_t)ids[i] >> (8 * b)) & 0xFF)) * 0x100000001b3ULL;
    return h;
}

/* Every code point (but surrogates and the unassigned planes 4-13) in the probe
 * "x{c}A1 {c}{c}'s{c} \n{c}", 128 probes per text, hashed like gen_tokens.py's
 * codepoint_texts(): the character classes, lower-casing and accent stripping of the whole
 * code space against the reference. */
static void check_codepoints(char **f)
{
    struct ar_tokenizer *tok = find_tok(f[0]);
    if (!tok) return;
    static char text[128 * 40];
    static int32_t ids[128 * 40];
    uint64_t h = 0xcbf29ce484222325ULL;
    long long count = 0;
    int in_text = 0;
    size_t len = 0;
    char err[256];
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp == 0xD800) cp = 0xE000;   /* surrogates cannot be encoded */
        if (cp == 0x40000) cp = 0xE0000; /* planes 4-13: unassigned, left out for speed */
        char u[4];
        size_t n = (size_t)ar__utf8_encode(cp, u);
        const char *parts[] = {"x", u, "A1 ", u, u, "'s", u, " \n", u};
        for (int k = 0; k < 9; k++) {
            size_t m = parts[k] == u ? n : strlen(parts[k]);
            memcpy(text + len, parts[k], m);
            len += m;
        }
        if (++in_text < 128 && cp != 0x10FFFF) continue;
        int got = 0;
        enum ar_status st =
            ar_tokenizer_encode(tok, text, len, NULL, 0, (int)(sizeof ids / sizeof *ids), ids, NULL,
                                &got, err, sizeof err);
        CHECK(st == AR_STATUS_OK, "codepoints %s at U+%04X: %s", f[0], (unsigned)cp, err);
        h = hash_ids(h, ids, got);
        count += got;
        in_text = 0;
        len = 0;
    }
    char got[64];
    snprintf(got, sizeof got, "%lld %016llx", count, (unsigned long long)h);
    CHECK(strcmp(got, f[5]) == 0, "codepoints %s: got \"%s\", want \"%s\"", f[0], got, f[5]);
}

/* Every review of train.tsv, hashed like gen_tokens.py's ids_hash; prints tokens/s. */
static void check_corpus(char **f)
{
    struct ar_tokenizer *tok = find_tok(f[0]);
    if (!tok) return;
    char path[1024], line[1 << 16], err[512];
    snprintf(path, sizeof path, "%s/../%s", data_dir(), f[3]);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL, "cannot open %s", path);
    if (!fp) return;
    uint64_t h = 0xcbf29ce484222325ULL;
    long long count = 0;
    bool ok = fgets(line, sizeof line, fp) != NULL; /* header */
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    while (ok && fgets(line, sizeof line, fp)) {
        char *text = strchr(line, '\t');
        if (!text) continue;
        text++;
        text[strcspn(text, "\n")] = '\0';
        int n = 0;
        enum ar_status st = ar_tokenizer_encode(tok, text, strlen(text), NULL, 0, CAP, got_ids,
                                                NULL, &n, err, sizeof err);
        CHECK(st == AR_STATUS_OK, "corpus %s: %s", f[0], err);
        h = hash_ids(h, got_ids, n);
        count += n;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    fclose(fp);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    char got[64];
    snprintf(got, sizeof got, "%lld %016llx", count, (unsigned long long)h);
    CHECK(strcmp(got, f[5]) == 0, "corpus %s: got \"%s\", want \"%s\"", f[0], got, f[5]);
    printf("%-15s %lld tokens of train.tsv in %.3f CPU s: %.2f M tokens/s\n", f[0], count, s,
           (double)count / s * 1e-6);
}

static void check_fixture(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/tokens.tsv", data_dir());
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL, "cannot open %s", path);
    if (!fp) return;
    static char line[1 << 16];
    int lineno = 0, rows = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        if (line[0] == '#') continue;
        line[strcspn(line, "\n")] = '\0';
        char *f[7] = {0};
        int nf = 0;
        for (char *p = line; nf < 7; nf++) {
            f[nf] = p;
            p = strchr(p, '\t');
            if (!p) {
                nf++;
                break;
            }
            *p++ = '\0';
        }
        CHECK(nf == 7, "tokens.tsv line %d has %d fields", lineno, nf);
        if (nf != 7) continue;
        rows++;
        if (strcmp(f[1], "corpus") == 0)
            check_corpus(f);
        else if (strcmp(f[1], "codepoints") == 0)
            check_codepoints(f);
        else
            check_row(lineno, f);
    }
    fclose(fp);
    CHECK(rows > 150, "tokens.tsv: only %d rows", rows);
}

static void check_lookups(void)
{
    struct ar_tokenizer *tok = find_tok("minilm");
    if (!tok) return;
    CHECK(ar_tokenizer_vocab_size(tok) == 30522, "vocab size %d", ar_tokenizer_vocab_size(tok));
    CHECK(ar_tokenizer_token_id(tok, "[PAD]") == 0, "[PAD]");
    CHECK(ar_tokenizer_token_id(tok, "[CLS]") == 101, "[CLS]");
    CHECK(ar_tokenizer_token_id(tok, "##ing") == 2075, "##ing");
    CHECK(ar_tokenizer_token_id(tok, "no-such-token") == -1, "missing token");
    CHECK(ar_tokenizer_pad_id(tok) == 0, "pad id");
    CHECK(ar_tokenizer_max_length(tok) == 128, "max length");
    const char *cls = ar_tokenizer_token(tok, 102);
    CHECK(cls && strcmp(cls, "[SEP]") == 0, "token 102");
    CHECK(ar_tokenizer_token(tok, 30522) == NULL, "token out of range");
    int32_t ids[6] = {101, 7592, 102, -1, -1, -1}, types[6] = {0, 0, 0, 9, 9, 9}, mask[6];
    ar_tokenizer_pad(tok, ids, types, mask, 3, 6);
    CHECK(ids[5] == 0 && types[4] == 0 && mask[2] == 1 && mask[3] == 0 && ids[1] == 7592, "pad");
    struct ar_tokenizer *gpt = find_tok("bpe");
    if (gpt)
        CHECK(ar_tokenizer_pad_id(gpt) == 1 && ar_tokenizer_vocab_size(gpt) == 2002 &&
                  ar_tokenizer_token_id(gpt, "<mask>") == 2000,
              "bpe lookups: pad %d, size %d", ar_tokenizer_pad_id(gpt),
              ar_tokenizer_vocab_size(gpt));
}

/* Loads a JSON text that must fail with `want`, the message containing `needle`. */
static void bad_json(const char *json, enum ar_status want, const char *needle)
{
    struct ar_tokenizer *tok = NULL;
    char err[512] = "";
    enum ar_status st =
        ar_tokenizer_load_json(json, strlen(json), "bad.json", &tok, err, sizeof err);
    CHECK(st == want && tok == NULL && strstr(err, needle) && strstr(err, "bad.json"),
          "%s: got %s \"%s\", want %s with \"%s\"", json, ar_status_name(st), err,
          ar_status_name(want), needle);
    ar_tokenizer_free(tok);
}

#define WP_MODEL "\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"u\", \"vocab\": {\"u\": 0}}"

static void check_bad_files(void)
{
    struct ar_tokenizer *tok = NULL;
    char err[512];
    CHECK(ar_tokenizer_load("/nonexistent/tokenizer.json", &tok, err, sizeof err) == AR_STATUS_IO &&
              !tok && strstr(err, "/nonexistent/tokenizer.json"),
          "missing file: %s", err);
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/tokens.tsv", data_dir()); /* a file, not JSON */
    CHECK(ar_tokenizer_load(path, &tok, err, sizeof err) == AR_STATUS_BAD_FORMAT && !tok &&
              strstr(err, "tokens.tsv: line 1, column 1"),
          "not JSON: %s", err);
    bad_json("{\"model\": ", AR_STATUS_BAD_FORMAT, "not valid JSON");
    bad_json("[1, 2]", AR_STATUS_BAD_FORMAT, "top level");
    bad_json("{}", AR_STATUS_BAD_FORMAT, "model");
    bad_json("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", AR_STATUS_UNSUPPORTED,
             "\"Unigram\"");
    bad_json("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", AR_STATUS_BAD_FORMAT,
             "unk_token");
    bad_json("{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"u\", \"vocab\": {\"u\": -3}}}",
             AR_STATUS_BAD_FORMAT, "model.vocab[\"u\"]");
    bad_json("{" WP_MODEL ", \"normalizer\": {\"type\": \"NFKC\"}}", AR_STATUS_UNSUPPORTED,
             "\"NFKC\"");
    bad_json("{" WP_MODEL ", \"pre_tokenizer\": {\"type\": \"Metaspace\"}}", AR_STATUS_UNSUPPORTED,
             "\"Metaspace\"");
    bad_json("{" WP_MODEL ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": "
             "\"\\\\w+\"}, \"behavior\": \"Isolated\", \"invert\": false}}",
             AR_STATUS_UNSUPPORTED, "\\w+");
    bad_json("{" WP_MODEL ", \"post_processor\": {\"type\": \"Fancy\"}}", AR_STATUS_UNSUPPORTED,
             "\"Fancy\"");
    bad_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": "
             "[\"a b\"]}}",
             AR_STATUS_BAD_FORMAT, "model.merges[0]");
    bad_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}",
             AR_STATUS_BAD_FORMAT, "model.merges[0]");
    bad_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": [], \"dropout\": 0.1}}",
             AR_STATUS_UNSUPPORTED, "dropout");
}

static void bad_text(const char *text, size_t len, bool as_pair, const char *needle)
{
    struct ar_tokenizer *tok = find_tok("minilm") ? find_tok("minilm") : find_tok("bpe");
    if (!tok) return;
    int32_t ids[64];
    int n = -1;
    char err[512] = "";
    enum ar_status st =
        as_pair ? ar_tokenizer_encode(tok, "ok", 2, text, len, 64, ids, NULL, &n, err, sizeof err)
                : ar_tokenizer_encode(tok, text, len, NULL, 0, 64, ids, NULL, &n, err, sizeof err);
    CHECK(st == AR_STATUS_BAD_FORMAT && n == 0 && strstr(err, needle),
          "invalid UTF-8: got %s \"%s\", want \"%s\"", ar_status_name(st), err, needle);
}

static void check_bad_text(void)
{
    bad_text("abc\xC3(", 5, false, "text: invalid UTF-8 at byte 3");
    bad_text("\xC0\xAF", 2, false, "at byte 0");         /* overlong '/' */
    bad_text("ok \xED\xA0\x80", 6, false, "at byte 3");  /* a UTF-16 surrogate */
    bad_text("euro \xE2\x82", 7, false, "at byte 5");    /* cut short */
    bad_text("\xF4\x90\x80\x80", 4, false, "at byte 0"); /* above U+10FFFF */
    bad_text("x\xFF", 2, true, "text_pair: invalid UTF-8 at byte 1");
    struct ar_tokenizer *tok = find_tok("minilm");
    if (tok) {
        int32_t ids[4];
        int n;
        char err[256];
        CHECK(ar_tokenizer_encode(tok, "hi", 2, "yo", 2, 2, ids, NULL, &n, err, sizeof err) ==
                  AR_STATUS_INVALID_ARGUMENT,
              "max_len 2 cannot hold [CLS] [SEP] [SEP]");
    }
    uint32_t cp = 0;
    CHECK(ar__utf8_decode("\xF0\x9F\x91\x8D", 4, &cp) == 4 && cp == 0x1F44D, "decode 4 bytes");
    CHECK(ar__utf8_invalid_at("h\xC3\xA9", 3) == 3, "valid UTF-8");
}

int main(void)
{
    load_all();
    check_fixture();
    check_lookups();
    check_bad_files();
    check_bad_text();
    for (size_t i = 0; i < N_TOKS; i++)
        ar_tokenizer_free(toks[i].tok);
    return test_finish("tokenizer");
}
