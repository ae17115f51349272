/* Fuzzes the JSON reader (core/json.c): parse, then walk every node through the accessors. */
#include "fuzz.h"
#include "json.h"

static void walk(const struct ar__json_node *n, int depth)
{
    const char *s;
    double d;
    int64_t i;
    bool b;
    (void)ar__json_as_string(n, &s);
    (void)ar__json_as_double(n, &d);
    (void)ar__json_as_int(n, &i);
    (void)ar__json_as_bool(n, &b);
    if (n->type == AR__JSON_OBJECT) {
        const char *dup;
        (void)ar__json_has_duplicate_keys(n, &dup);
        for (size_t k = 0; k < n->count; k++)
            (void)ar__json_get(n, n->keys[k]);
    }
    if (depth > AR__JSON_MAX_DEPTH + 1) return; /* the parser's limit; guards the walk too */
    for (size_t k = 0; n->type >= AR__JSON_ARRAY && k < n->count; k++)
        walk(ar__json_at(n, k) ? ar__json_at(n, k) : n->items[k], depth + 1);
}

int ar_fuzz_json(const uint8_t *data, size_t size)
{
    char err[256];
    struct ar__json_doc *doc = ar__json_parse((const char *)data, size, err, sizeof err);
    if (doc) walk(ar__json_root(doc), 0);
    ar__json_free(doc);
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_json)
