/* A strict RFC 8259 JSON reader (see json.h). One recursive-descent pass builds the node tree in
 * a bump arena; children of an open container wait on a shared scratch stack and are copied into
 * the arena, as one exact-sized array, when the container closes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- the arena: chunks of bump-allocated memory, freed together -------------------------- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[]; /* cap bytes follow */
};

struct ar__json_doc {
    struct chunk *chunks;
    struct ar__json_node *root;
};

static void *arena_alloc(struct ar__json_doc *doc, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct chunk *c = doc->chunks;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = doc->chunks, c->used = 0, c->cap = cap;
        doc->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

/* ---- the parser --------------------------------------------------------------------------- */

struct parser {
    const unsigned char *s;
    size_t len, pos;
    int depth;
    struct ar__json_doc *doc;
    /* Scratch stack of children (and their keys) of the containers being parsed. */
    struct ar__json_node **stack;
    const char **stack_keys;
    size_t *stack_lens;
    size_t top, cap;
    char *buf; /* string decoding scratch */
    size_t buf_len, buf_cap;
    char *err;
    size_t err_size;
    bool failed;
};

/* Records the first error with its 1-based line and column (columns count code points). */
static bool fail_at(struct parser *p, size_t pos, const char *what)
{
    if (p->failed) return false;
    p->failed = true;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos && i < p->len; i++) {
        if (p->s[i] == '\n')
            line++, col = 1;
        else if ((p->s[i] & 0xC0) != 0x80)
            col++;
    }
    if (p->err && p->err_size)
        snprintf(p->err, p->err_size, "line %zu, column %zu: %s", line, col, what);
    return false;
}

static bool fail(struct parser *p, const char *what)
{
    return fail_at(p, p->pos, what);
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static bool buf_put(struct parser *p, const void *bytes, size_t n)
{
    if (p->buf_len + n + 1 > p->buf_cap) {
        size_t cap = p->buf_cap ? p->buf_cap : 256;
        while (cap < p->buf_len + n + 1)
            cap *= 2;
        char *grown = realloc(p->buf, cap);
        if (!grown) return fail(p, "out of memory");
        p->buf = grown, p->buf_cap = cap;
    }
    memcpy(p->buf + p->buf_len, bytes, n);
    p->buf_len += n;
    return true;
}

/* Length of the valid UTF-8 sequence at s[0..avail), or 0 (overlong forms, surrogates and code
 * points above U+10FFFF are invalid: RFC 3629 §4). */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    else if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

static size_t utf8_encode(unsigned long cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    } else if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool hex4(struct parser *p, unsigned long *out)
{
    unsigned long v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (p->pos + i >= p->len) return fail_at(p, p->pos + i, "truncated \\u escape");
        unsigned char c = p->s[p->pos + i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return fail_at(p, p->pos + i, "invalid hex digit in \\u escape");
        v = v * 16 + (unsigned long)d;
    }
    p->pos += 4;
    *out = v;
    return true;
}

static bool parse_escape(struct parser *p)
{
    size_t start = p->pos - 1; /* the backslash */
    if (p->pos >= p->len) return fail(p, "unterminated string");
    char c = (char)p->s[p->pos++];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = c ? strchr(from, c) : NULL;
    if (hit) return buf_put(p, &to[hit - from], 1);
    if (c != 'u') return fail_at(p, start, "invalid escape sequence");
    unsigned long cp;
    if (!hex4(p, &cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail_at(p, start, "unpaired low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned long lo;
        if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return fail_at(p, start, "unpaired high surrogate in \\u escape");
        p->pos += 2;
        if (!hex4(p, &lo)) return false;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail_at(p, start, "unpaired high surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    unsigned char out[4];
    return buf_put(p, out, utf8_encode(cp, out));
}

/* Decodes the string at p->pos (the opening quote) into the arena. */
static bool parse_string(struct parser *p, const char **out, size_t *out_len)
{
    size_t open = p->pos++;
    p->buf_len = 0;
    for (;;) {
        if (p->pos >= p->len) return fail_at(p, open, "unterminated string");
        unsigned char c = p->s[p->pos];
        if (c == '"') break;
        if (c == '\\') {
            p->pos++;
            if (!parse_escape(p)) return false;
            continue;
        }
        if (c < 0x20) return fail(p, "control character in string (must be escaped)");
        /* Copy a run of plain bytes at once, validating UTF-8 as we go. */
        size_t run = p->pos;
        while (run < p->len && p->s[run] != '"' && p->s[run] != '\\' && p->s[run] >= 0x20) {
            size_t n = utf8_seq(p->s + run, p->len - run);
            if (n == 0) return fail_at(p, run, "invalid UTF-8 in string");
            run += n;
        }
        if (!buf_put(p, p->s + p->pos, run - p->pos)) return false;
        p->pos = run;
    }
    p->pos++; /* closing quote */
    char *copy = arena_alloc(p->doc, p->buf_len + 1);
    if (!copy) return fail(p, "out of memory");
    if (p->buf_len) memcpy(copy, p->buf, p->buf_len);
    copy[p->buf_len] = '\0';
    *out = copy;
    *out_len = p->buf_len;
    return true;
}

/* ---- numbers --------------------------------------------------------------------------- */

static bool digits(struct parser *p)
{
    size_t start = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    return p->pos > start;
}

/* number = [ "-" ] ( "0" / [1-9] *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]
 */
static bool parse_number(struct parser *p, struct ar__json_node *n)
{
    size_t start = p->pos;
    bool neg = p->s[p->pos] == '-', integral = true;
    if (neg) p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            return fail(p, "leading zero in number");
    } else if (!digits(p))
        return fail(p, "invalid number");
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++, integral = false;
        if (!digits(p)) return fail(p, "expected digits after the decimal point");
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++, integral = false;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (!digits(p)) return fail(p, "expected digits in the exponent");
    }
    n->type = AR__JSON_NUMBER;
    if (integral) {
        uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        bool fits = true;
        for (size_t i = start + neg; i < p->pos && fits; i++) {
            uint64_t d = p->s[i] - '0';
            fits = mag <= (limit - d) / 10;
            mag = mag * 10 + d;
        }
        if (fits) {
            n->is_int = true;
            n->i64 = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        }
        /* Integers below 2^53 are exact doubles: skip strtod (most numbers of a tokenizer). */
        if (fits && mag <= (1ULL << 53)) {
            n->num = neg ? -(double)mag : (double)mag;
            return true;
        }
    }
    /* strtod needs a NUL-terminated copy: the input may be an mmap'ed file with no NUL. */
    p->buf_len = 0;
    if (!buf_put(p, p->s + start, p->pos - start)) return false;
    p->buf[p->buf_len] = '\0';
    n->num = ar__json_strtod(p->buf, NULL);
    if (n->num == HUGE_VAL || n->num == -HUGE_VAL) return fail_at(p, start, "number out of range");
    return true;
}

/* ---- values ------------------------------------------------------------------------------- */

static bool push(struct parser *p, struct ar__json_node *n, const char *key, size_t key_len)
{
    if (p->top == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct ar__json_node **s = realloc(p->stack, cap * sizeof *s);
        if (s) p->stack = s;
        const char **k = realloc(p->stack_keys, cap * sizeof *k);
        if (k) p->stack_keys = k;
        size_t *l = realloc(p->stack_lens, cap * sizeof *l);
        if (l) p->stack_lens = l;
        if (!s || !k || !l) return fail(p, "out of memory");
        p->cap = cap;
    }
    p->stack[p->top] = n, p->stack_keys[p->top] = key, p->stack_lens[p->top] = key_len;
    p->top++;
    return true;
}

/* Moves the children pushed since `base` into exact-sized arena arrays of container n. */
static bool pop_into(struct parser *p, size_t base, struct ar__json_node *n)
{
    n->count = p->top - base;
    if (n->count) {
        n->items = arena_alloc(p->doc, n->count * sizeof *n->items);
        if (!n->items) return fail(p, "out of memory");
        memcpy(n->items, p->stack + base, n->count * sizeof *n->items);
        if (n->type == AR__JSON_OBJECT) {
            const char **keys = arena_alloc(p->doc, n->count * sizeof *keys);
            size_t *lens = arena_alloc(p->doc, n->count * sizeof *lens);
            if (!keys || !lens) return fail(p, "out of memory");
            memcpy(keys, p->stack_keys + base, n->count * sizeof *keys);
            memcpy(lens, p->stack_lens + base, n->count * sizeof *lens);
            n->keys = keys, n->key_lens = lens;
        }
    }
    p->top = base;
    return true;
}

static bool parse_value(struct parser *p, struct ar__json_node **out);

static bool parse_container(struct parser *p, struct ar__json_node *n)
{
    bool object = p->s[p->pos] == '{';
    char close = object ? '}' : ']';
    n->type = object ? AR__JSON_OBJECT : AR__JSON_ARRAY;
    if (++p->depth > AR__JSON_MAX_DEPTH) return fail(p, "nesting deeper than 512 levels");
    p->pos++;
    size_t base = p->top;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return pop_into(p, base, n);
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        if (object) {
            skip_ws(p);
            if (p->pos >= p->len) return fail(p, "unexpected end of input in object");
            if (p->s[p->pos] != '"') return fail(p, "expected a string key");
            if (!parse_string(p, &key, &key_len)) return false;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail(p, "expected ':' after object key");
            p->pos++;
        }
        struct ar__json_node *child;
        if (!parse_value(p, &child) || !push(p, child, key, key_len)) return false;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, object ? "unexpected end of input in object"
                                  : "unexpected end of input in array");
        if (p->s[p->pos] == close) break;
        if (p->s[p->pos] != ',')
            return fail(p,
                        object ? "expected ',' or '}' in object" : "expected ',' or ']' in array");
        p->pos++;
    }
    p->pos++;
    p->depth--;
    return pop_into(p, base, n);
}

static bool parse_literal(struct parser *p, const char *word, enum ar__json_type type,
                          struct ar__json_node *n)
{
    size_t wl = strlen(word);
    if (p->len - p->pos < wl || memcmp(p->s + p->pos, word, wl) != 0)
        return fail(p, "invalid literal");
    p->pos += wl;
    n->type = type;
    return true;
}

static bool parse_value(struct parser *p, struct ar__json_node **out)
{
    skip_ws(p);
    if (p->pos >= p->len) return fail(p, "unexpected end of input, expected a value");
    struct ar__json_node *n = arena_alloc(p->doc, sizeof *n);
    if (!n) return fail(p, "out of memory");
    memset(n, 0, sizeof *n);
    *out = n;
    unsigned char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        return parse_container(p, n);
    case '"':
        n->type = AR__JSON_STRING;
        return parse_string(p, &n->str, &n->len);
    case 't':
        return parse_literal(p, "true", AR__JSON_TRUE, n);
    case 'f':
        return parse_literal(p, "false", AR__JSON_FALSE, n);
    case 'n':
        return parse_literal(p, "null", AR__JSON_NULL, n);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, n);
        return fail(p, c >= 0x20 && c < 0x7F ? "unexpected character" : "unexpected byte");
    }
}

struct ar__json_doc *ar__json_parse(const char *text, size_t len, char *err, size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    struct ar__json_doc *doc = calloc(1, sizeof *doc);
    struct parser p = {.s = (const unsigned char *)text,
                       .len = text ? len : 0,
                       .doc = doc,
                       .err = err,
                       .err_size = err_size};
    if (!doc) {
        fail(&p, "out of memory");
        return NULL;
    }
    /* RFC 8259 §8.1: a parser may ignore a byte order mark. */
    if (p.len >= 3 && memcmp(p.s, "\xEF\xBB\xBF", 3) == 0) p.pos = 3;
    bool ok = parse_value(&p, &doc->root);
    if (ok) {
        skip_ws(&p);
        if (p.pos < p.len) ok = fail(&p, "unexpected text after the JSON value");
    }
    free(p.stack);
    free(p.stack_keys);
    free(p.stack_lens);
    free(p.buf);
    if (!ok) {
        ar__json_free(doc);
        return NULL;
    }
    return doc;
}

void ar__json_free(struct ar__json_doc *doc)
{
    if (!doc) return;
    for (struct chunk *c = doc->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(doc);
}

const struct ar__json_node *ar__json_root(const struct ar__json_doc *doc)
{
    return doc ? doc->root : NULL;
}
