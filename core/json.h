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
    const char **keys; /* objects only: decoded, NUL-terminated */
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

/* ---- numbers in the C locale (json_write.c) ----------------------------------------------
 * strtod and printf follow setlocale(), and the GTK app sets the user's locale, where the
 * decimal point may be a comma: JSON numbers are converted through these instead. */
double ar__json_strtod(const char *text, char **end);
/* snprintf of one double with a single conversion like "%.9g", always with a '.' point. */
int ar__json_format_double(char *out, size_t size, const char *fmt, double v);

/* ---- a small writer (json_write.c) --------------------------------------------------------
 * A growable, NUL-terminated buffer. Out of memory is sticky: later appends do nothing and the
 * caller checks `oom` once at the end. Separators are the caller's, helped by ar__json_comma:
 *     ar__json_put(&b, "{"); ar__json_write_key(&b, "r"); ar__json_write_int(&b, 8);
 *     ar__json_write_key(&b, "name"); ar__json_write_string(&b, "q"); ar__json_put(&b, "}");
 * gives {"r":8,"name":"q"}. Strings are escaped (quotes, backslash, control characters) and
 * otherwise passed through: the caller gives valid UTF-8. */
struct ar__json_buf {
    char *data; /* NULL until the first append */
    size_t len, cap;
    bool oom;
};

void ar__json_buf_free(struct ar__json_buf *b);              /* and resets it to empty */
void ar__json_put(struct ar__json_buf *b, const char *text); /* raw text */
void ar__json_put_n(struct ar__json_buf *b, const char *text, size_t n);
/* Appends ',' unless the buffer is empty or ends with '{', '[' or ':'. */
void ar__json_comma(struct ar__json_buf *b);
void ar__json_write_string(struct ar__json_buf *b, const char *s);
void ar__json_write_string_n(struct ar__json_buf *b, const char *s, size_t len);
void ar__json_write_key(struct ar__json_buf *b, const char *key); /* comma, "key": */
void ar__json_write_int(struct ar__json_buf *b, int64_t v);
void ar__json_write_double(struct ar__json_buf *b, double v); /* 17 digits; NaN/inf -> null */
void ar__json_write_float(struct ar__json_buf *b, float v);   /* 9 digits; NaN/inf -> null */

#endif
