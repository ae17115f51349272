/* A small, strict JSON reader (RFC 8259) for the files adarank loads: config.json,
 * tokenizer.json, safetensors headers, CLBlast tables, run configs.
 *
 * The whole document is parsed into one arena of nodes; strings are decoded to UTF-8 (escapes
 * and surrogate pairs resolved, invalid UTF-8 rejected) and NUL-terminated. Numbers keep both a
 * double and, when integral and in range, an int64. Objects keep their members in file order;
 * duplicate keys are kept as written and the lookup returns the first (callers that must reject
 * duplicates, like safetensors, use ar__json_has_duplicate_keys). Nesting is limited to
 * AR__JSON_MAX_DEPTH so hostile input cannot overflow the stack.
 */
#ifndef ADARANK_CORE_JSON_H
#define ADARANK_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AR__JSON_MAX_DEPTH 512

enum ar__json_type {
    AR__JSON_NULL,
    AR__JSON_FALSE,
    AR__JSON_TRUE,
    AR__JSON_NUMBER,
    AR__JSON_STRING,
    AR__JSON_ARRAY,
    AR__JSON_OBJECT,
};

struct ar__json_node {
    enum ar__json_type type;
    /* AR__JSON_STRING: str/len (decoded, NUL-terminated; may contain embedded NUL via \u0000).
     * AR__JSON_NUMBER: num, and is_int/i64 when the text is an integer that fits int64.
     * AR__JSON_ARRAY / AR__JSON_OBJECT: count children in items[] (objects: keys[] too). */
    const char *str;
    size_t len;
    double num;
    int64_t i64;
    bool is_int;
    size_t count;
    struct ar__json_node **items;
    const char **keys;     /* objects only: decoded, NUL-terminated */
    const size_t *key_lens;
};

struct ar__json_doc; /* owns every node and string */

/* Parses text[0..len). On failure returns NULL and writes "line L, column C: what" to err. */
struct ar__json_doc *ar__json_parse(const char *text, size_t len, char *err, size_t err_size);
void ar__json_free(struct ar__json_doc *doc); /* NULL is fine */
const struct ar__json_node *ar__json_root(const struct ar__json_doc *doc);

/* Object member by key, or NULL (also when obj is NULL or not an object). */
const struct ar__json_node *ar__json_get(const struct ar__json_node *obj, const char *key);
/* Array element, or NULL when out of range or not an array. */
const struct ar__json_node *ar__json_at(const struct ar__json_node *arr, size_t index);

/* Typed accessors: true and *out set when the node exists and has that type. */
bool ar__json_as_string(const struct ar__json_node *n, const char **out);
bool ar__json_as_double(const struct ar__json_node *n, double *out);
bool ar__json_as_int(const struct ar__json_node *n, int64_t *out); /* integral numbers only */
bool ar__json_as_bool(const struct ar__json_node *n, bool *out);

/* True when an object (not its descendants) has the same key twice; *dup names it. */
bool ar__json_has_duplicate_keys(const struct ar__json_node *obj, const char **dup);

/* Reads a whole file and parses it; on failure err holds "PATH: ..." */
struct ar__json_doc *ar__json_parse_file(const char *path, char *err, size_t err_size);

#endif
