/* A strict RFC 8259 JSON reader (see json.h). One recursive-descent pass builds the node tree in
 * a bump arena; children of an open container wait on a shared scratch stack and are copied into
 * the arena, as one exact-sized array, when the container closes. This file holds the arena, the
 * containers and literals and the entry points; strings and numbers are json_scalar.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_internal.h"

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

void *ar__json_arena_alloc(struct ar__json_doc *doc, size_t size)
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

/* ---- errors and blanks ------------------------------------------------------------------- */

/* Records the first error with its 1-based line and column (columns count code points). */
bool ar__json_fail_at(struct ar__json_parser *p, size_t pos, const char *what)
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

bool ar__json_fail(struct ar__json_parser *p, const char *what)
{
    return ar__json_fail_at(p, p->pos, what);
}

static void skip_ws(struct ar__json_parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* ---- values ------------------------------------------------------------------------------- */

static bool push(struct ar__json_parser *p, struct ar__json_node *n, const char *key,
                 size_t key_len)
{
    if (p->top == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct ar__json_node **s = realloc(p->stack, cap * sizeof *s);
        if (s) p->stack = s;
        const char **k = realloc(p->stack_keys, cap * sizeof *k);
        if (k) p->stack_keys = k;
        size_t *l = realloc(p->stack_lens, cap * sizeof *l);
        if (l) p->stack_lens = l;
        if (!s || !k || !l) return ar__json_fail(p, "out of memory");
        p->cap = cap;
    }
    p->stack[p->top] = n, p->stack_keys[p->top] = key, p->stack_lens[p->top] = key_len;
    p->top++;
    return true;
}

/* Moves the children pushed since `base` into exact-sized arena arrays of container n. */
static bool pop_into(struct ar__json_parser *p, size_t base, struct ar__json_node *n)
{
    n->count = p->top - base;
    if (n->count) {
        n->items = ar__json_arena_alloc(p->doc, n->count * sizeof *n->items);
        if (!n->items) return ar__json_fail(p, "out of memory");
        memcpy(n->items, p->stack + base, n->count * sizeof *n->items);
        if (n->type == AR__JSON_OBJECT) {
            const char **keys = ar__json_arena_alloc(p->doc, n->count * sizeof *keys);
            size_t *lens = ar__json_arena_alloc(p->doc, n->count * sizeof *lens);
            if (!keys || !lens) return ar__json_fail(p, "out of memory");
            memcpy(keys, p->stack_keys + base, n->count * sizeof *keys);
            memcpy(lens, p->stack_lens + base, n->count * sizeof *lens);
            n->keys = keys, n->key_lens = lens;
        }
    }
    p->top = base;
    return true;
}

static bool parse_value(struct ar__json_parser *p, struct ar__json_node **out);

static bool parse_container(struct ar__json_parser *p, struct ar__json_node *n)
{
    bool object = p->s[p->pos] == '{';
    char close = object ? '}' : ']';
    n->type = object ? AR__JSON_OBJECT : AR__JSON_ARRAY;
    if (++p->depth > AR__JSON_MAX_DEPTH) return ar__json_fail(p, "nesting deeper than 512 levels");
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
            if (p->pos >= p->len) return ar__json_fail(p, "unexpected end of input in object");
            if (p->s[p->pos] != '"') return ar__json_fail(p, "expected a string key");
            if (!ar__json_parse_string(p, &key, &key_len)) return false;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return ar__json_fail(p, "expected ':' after object key");
            p->pos++;
        }
        struct ar__json_node *child;
        if (!parse_value(p, &child) || !push(p, child, key, key_len)) return false;
        skip_ws(p);
        if (p->pos >= p->len)
            return ar__json_fail(p, object ? "unexpected end of input in object"
                                           : "unexpected end of input in array");
        if (p->s[p->pos] == close) break;
        if (p->s[p->pos] != ',')
            return ar__json_fail(p, object ? "expected ',' or '}' in object"
                                           : "expected ',' or ']' in array");
        p->pos++;
    }
    p->pos++;
    p->depth--;
    return pop_into(p, base, n);
}

static bool parse_literal(struct ar__json_parser *p, const char *word, enum ar__json_type type,
                          struct ar__json_node *n)
{
    size_t wl = strlen(word);
    if (p->len - p->pos < wl || memcmp(p->s + p->pos, word, wl) != 0)
        return ar__json_fail(p, "invalid literal");
    p->pos += wl;
    n->type = type;
    return true;
}

static bool parse_value(struct ar__json_parser *p, struct ar__json_node **out)
{
    skip_ws(p);
    if (p->pos >= p->len) return ar__json_fail(p, "unexpected end of input, expected a value");
    struct ar__json_node *n = ar__json_arena_alloc(p->doc, sizeof *n);
    if (!n) return ar__json_fail(p, "out of memory");
    memset(n, 0, sizeof *n);
    *out = n;
    unsigned char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        return parse_container(p, n);
    case '"':
        n->type = AR__JSON_STRING;
        return ar__json_parse_string(p, &n->str, &n->len);
    case 't':
        return parse_literal(p, "true", AR__JSON_TRUE, n);
    case 'f':
        return parse_literal(p, "false", AR__JSON_FALSE, n);
    case 'n':
        return parse_literal(p, "null", AR__JSON_NULL, n);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return ar__json_parse_number(p, n);
        return ar__json_fail(p, c >= 0x20 && c < 0x7F ? "unexpected character" : "unexpected byte");
    }
}

struct ar__json_doc *ar__json_parse(const char *text, size_t len, char *err, size_t err_size)
{
    if (err && err_size) err[0] = '\0';
    struct ar__json_doc *doc = calloc(1, sizeof *doc);
    struct ar__json_parser p = {.s = (const unsigned char *)text,
                                .len = text ? len : 0,
                                .doc = doc,
                                .err = err,
                                .err_size = err_size};
    if (!doc) {
        ar__json_fail(&p, "out of memory");
        return NULL;
    }
    /* RFC 8259 §8.1: a parser may ignore a byte order mark. */
    if (p.len >= 3 && memcmp(p.s, "\xEF\xBB\xBF", 3) == 0) p.pos = 3;
    bool ok = parse_value(&p, &doc->root);
    if (ok) {
        skip_ws(&p);
        if (p.pos < p.len) ok = ar__json_fail(&p, "unexpected text after the JSON value");
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
