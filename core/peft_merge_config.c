/* config.json of a merged model folder (peft_merge.h): the base's config.json written back member
 * by member, with the task class, the classes and the pad token of the merged model in place of
 * the base's. Numbers keep their value exactly (integers as integers, doubles in the shortest of
 * 15..17 digits that reads back the same), so transformers reads the same configuration. The
 * base's tokenizer files are copied beside it. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "peft_merge_internal.h"

static void put_indent(struct ar__json_buf *b, int depth)
{
    for (int i = 0; i < depth; i++)
        ar__json_put(b, "  ");
}

static void put_number(struct ar__json_buf *b, const struct ar__json_node *n)
{
    if (n->is_int) {
        ar__json_write_int(b, n->i64);
        return;
    }
    char num[64] = "0";
    for (int digits = 15; digits <= 17; digits++) {
        char fmt[8];
        snprintf(fmt, sizeof fmt, "%%.%dg", digits);
        ar__json_format_double(num, sizeof num, fmt, n->num);
        if (ar__json_strtod(num, NULL) == n->num)
            break;
    }
    ar__json_put(b, num);
}

static void put_node(struct ar__json_buf *b, const struct ar__json_node *n, int depth)
{
    switch (n->type) {
    case AR__JSON_NULL:
        ar__json_put(b, "null");
        break;
    case AR__JSON_FALSE:
        ar__json_put(b, "false");
        break;
    case AR__JSON_TRUE:
        ar__json_put(b, "true");
        break;
    case AR__JSON_NUMBER:
        put_number(b, n);
        break;
    case AR__JSON_STRING:
        ar__json_write_string_n(b, n->str, n->len);
        break;
    case AR__JSON_ARRAY:
        ar__json_put(b, "[");
        for (size_t i = 0; i < n->count; i++) {
            ar__json_put(b, i ? ", " : "");
            put_node(b, n->items[i], depth + 1);
        }
        ar__json_put(b, "]");
        break;
    case AR__JSON_OBJECT:
        ar__json_put(b, "{");
        for (size_t i = 0; i < n->count; i++) {
            ar__json_put(b, i ? ",\n" : "\n");
            put_indent(b, depth + 1);
            ar__json_write_string(b, n->keys[i]);
            ar__json_put(b, ": ");
            put_node(b, n->items[i], depth + 1);
        }
        ar__json_put(b, "}");
        break;
    }
}

/* A top-level member: "  "key": " after the separator. */
static void put_key(struct ar__json_buf *b, const char *key)
{
    ar__json_put(b, b->len > 1 ? ",\n  " : "\n  ");
    ar__json_write_string(b, key);
    ar__json_put(b, ": ");
}

/* Whether the base's member `key` is replaced by one written after the base's members. */
static bool replaced(const struct ar__merge_config *c, const char *key)
{
    if (c->architecture && !strcmp(key, "architectures"))
        return true;
    if (c->num_labels > 0 && (!strcmp(key, "id2label") || !strcmp(key, "label2id") ||
                              !strcmp(key, "num_labels")))
        return true;
    return c->pad_token_id >= 0 && !strcmp(key, "pad_token_id");
}

/* id2label {"0": name, ...} and label2id {name: 0, ...}: transformers takes num_labels from
 * id2label, so num_labels itself is not written. */
static void put_labels(struct ar__json_buf *b, const struct ar__merge_config *c)
{
    char name[64];
    put_key(b, "id2label");
    ar__json_put(b, "{");
    for (int i = 0; i < c->num_labels; i++) {
        snprintf(name, sizeof name, "%d", i);
        ar__json_put(b, i ? ", " : "");
        ar__json_write_string(b, name);
        ar__json_put(b, ": ");
        snprintf(name, sizeof name, "LABEL_%d", i);
        ar__json_write_string(b, c->labels && i < c->n_labels ? c->labels[i] : name);
    }
    ar__json_put(b, "}");
    put_key(b, "label2id");
    ar__json_put(b, "{");
    for (int i = 0; i < c->num_labels; i++) {
        snprintf(name, sizeof name, "LABEL_%d", i);
        ar__json_put(b, i ? ", " : "");
        ar__json_write_string(b, c->labels && i < c->n_labels ? c->labels[i] : name);
        ar__json_put(b, ": ");
        ar__json_write_int(b, i);
    }
    ar__json_put(b, "}");
}

enum ar_status ar__peft_merge_write_config(const char *path, const struct ar__merge_config *c,
                                           char *err, size_t err_size)
{
    const struct ar__json_node *root = c->base;
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{");
    for (size_t i = 0; root->type == AR__JSON_OBJECT && i < root->count; i++) {
        if (replaced(c, root->keys[i]))
            continue;
        put_key(&b, root->keys[i]);
        put_node(&b, root->items[i], 1);
    }
    if (c->architecture) {
        put_key(&b, "architectures");
        ar__json_put(&b, "[");
        ar__json_write_string(&b, c->architecture);
        ar__json_put(&b, "]");
    }
    if (c->num_labels > 0)
        put_labels(&b, c);
    if (c->pad_token_id >= 0) {
        put_key(&b, "pad_token_id");
        ar__json_write_int(&b, c->pad_token_id);
    }
    ar__json_put(&b, "\n}\n");
    if (b.oom) {
        ar__json_buf_free(&b);
        return ar__fail_buf(err, err_size, AR_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(b.data, 1, b.len, f) == b.len;
    ok = (f && fclose(f) == 0) && ok;
    ar__json_buf_free(&b);
    return ok ? AR_STATUS_OK
              : ar__fail_buf(err, err_size, AR_STATUS_IO, "%s: cannot write: %s", path,
                             strerror(errno));
}

/* ---- the tokenizer files -------------------------------------------------------------------- */

static enum ar_status copy_if_present(const char *from_dir, const char *to_dir, const char *file,
                                      char *err, size_t err_size)
{
    char from[4096], to[4096];
    snprintf(from, sizeof from, "%s/%s", from_dir, file);
    snprintf(to, sizeof to, "%s/%s", to_dir, file);
    FILE *in = fopen(from, "rb");
    if (!in)
        return AR_STATUS_OK;
    FILE *out = fopen(to, "wb");
    bool ok = out != NULL;
    char buf[65536];
    for (size_t n; ok && (n = fread(buf, 1, sizeof buf, in)) > 0;)
        ok = fwrite(buf, 1, n, out) == n;
    ok = !ferror(in) && ok;
    fclose(in);
    ok = (out && fclose(out) == 0) && ok;
    return ok ? AR_STATUS_OK
              : ar__fail_buf(err, err_size, AR_STATUS_IO, "%s: cannot write: %s", to,
                             strerror(errno));
}

enum ar_status ar__peft_merge_copy_tokenizer(const char *base_dir, const char *out_dir, char *err,
                                             size_t err_size)
{
    static const char *const copies[] = {"tokenizer.json", "vocab.txt", "tokenizer_config.json",
                                         "special_tokens_map.json"};
    enum ar_status st = AR_STATUS_OK;
    for (size_t i = 0; st == AR_STATUS_OK && i < sizeof copies / sizeof copies[0]; i++)
        st = copy_if_present(base_dir, out_dir, copies[i], err, err_size);
    return st;
}
