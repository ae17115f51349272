/* Lookups and typed accessors on a parsed JSON document, the duplicate-key check and the
 * whole-file reader (see json.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static bool key_equals(const struct ar__json_node *obj, size_t i, const char *key, size_t len)
{
    return obj->key_lens[i] == len && memcmp(obj->keys[i], key, len) == 0;
}

const struct ar__json_node *ar__json_get(const struct ar__json_node *obj, const char *key)
{
    if (!obj || obj->type != AR__JSON_OBJECT || !key) return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < obj->count; i++)
        if (key_equals(obj, i, key, len)) return obj->items[i];
    return NULL;
}

const struct ar__json_node *ar__json_at(const struct ar__json_node *arr, size_t index)
{
    if (!arr || arr->type != AR__JSON_ARRAY || index >= arr->count) return NULL;
    return arr->items[index];
}

bool ar__json_as_string(const struct ar__json_node *n, const char **out)
{
    if (!n || n->type != AR__JSON_STRING) return false;
    *out = n->str;
    return true;
}

bool ar__json_as_double(const struct ar__json_node *n, double *out)
{
    if (!n || n->type != AR__JSON_NUMBER) return false;
    *out = n->num;
    return true;
}

bool ar__json_as_int(const struct ar__json_node *n, int64_t *out)
{
    if (!n || n->type != AR__JSON_NUMBER || !n->is_int) return false;
    *out = n->i64;
    return true;
}

bool ar__json_as_bool(const struct ar__json_node *n, bool *out)
{
    if (!n || (n->type != AR__JSON_TRUE && n->type != AR__JSON_FALSE)) return false;
    *out = n->type == AR__JSON_TRUE;
    return true;
}

/* FNV-1a: a simple, well-spread hash for short keys. */
static uint64_t hash_key(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* An open-addressing set of member indices, so objects with tens of thousands of keys (a
 * tokenizer vocabulary) are checked in linear time. */
bool ar__json_has_duplicate_keys(const struct ar__json_node *obj, const char **dup)
{
    if (!obj || obj->type != AR__JSON_OBJECT || obj->count < 2) return false;
    size_t cap = 16;
    while (cap < obj->count * 2)
        cap *= 2;
    size_t *slots = malloc(cap * sizeof *slots);
    if (!slots) { /* fall back to the quadratic scan rather than fail */
        for (size_t i = 1; i < obj->count; i++)
            for (size_t j = 0; j < i; j++)
                if (key_equals(obj, j, obj->keys[i], obj->key_lens[i])) {
                    if (dup) *dup = obj->keys[i];
                    return true;
                }
        return false;
    }
    for (size_t i = 0; i < cap; i++)
        slots[i] = SIZE_MAX;
    bool found = false;
    for (size_t i = 0; i < obj->count && !found; i++) {
        size_t h = (size_t)hash_key(obj->keys[i], obj->key_lens[i]) & (cap - 1);
        while (slots[h] != SIZE_MAX && !found) {
            found = key_equals(obj, slots[h], obj->keys[i], obj->key_lens[i]);
            h = (h + 1) & (cap - 1);
        }
        if (found) {
            if (dup) *dup = obj->keys[i];
        } else
            slots[h] = i;
    }
    free(slots);
    return found;
}

struct ar__json_doc *ar__json_parse_file(const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 65536;
            char *grown = realloc(text, cap);
            if (!grown) {
                snprintf(err, err_size, "%s: out of memory reading the file", path);
                free(text);
                fclose(f);
                return NULL;
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    bool read_error = ferror(f);
    fclose(f);
    if (read_error) {
        snprintf(err, err_size, "%s: read error", path);
        free(text);
        return NULL;
    }
    char detail[512];
    struct ar__json_doc *doc = ar__json_parse(text, len, detail, sizeof detail);
    free(text);
    if (!doc) snprintf(err, err_size, "%s: %s", path, detail);
    return doc;
}
