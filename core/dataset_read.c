/* ar_dataset_read's first half: the rows of a JSONL, CSV or TSV file, validated and collected
 * with their label text (dataset_load.c assigns class ids). Bad rows are collected with FILE:LINE
 * so that one run shows every problem of a file, not just the first. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "adarank/dataset.h"
#include "dataset_internal.h"
#include "json.h"

size_t ar__dataset_store_put(struct ar__dataset_builder *b, const char *s, size_t n)
{
    if (b->store_cap - b->store_len < n + 1) {
        size_t cap = b->store_cap ? b->store_cap : 4096;
        while (cap - b->store_len < n + 1)
            cap *= 2;
        char *p = realloc(b->store, cap);
        if (!p) {
            b->oom = true;
            return AR__DATASET_NONE;
        }
        b->store = p, b->store_cap = cap;
    }
    size_t at = b->store_len;
    memcpy(b->store + at, s, n);
    b->store[at + n] = '\0';
    b->store_len += n + 1;
    return at;
}

void ar__dataset_bad_row(struct ar__dataset_builder *b, int line, const char *fmt, ...)
{
    b->bad++;
    if (b->bad > AR_DATASET_MAX_REPORTED)
        return;
    char msg[512];
    int n = snprintf(msg, sizeof msg, "%s:%d: ", b->name, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strlen(msg);
    if (b->report_cap - b->report_len < len + 2) {
        size_t cap = b->report_cap ? 2 * b->report_cap + len : 1024 + len;
        char *p = realloc(b->report, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->report = p, b->report_cap = cap;
    }
    memcpy(b->report + b->report_len, msg, len);
    b->report_len += len;
    b->report[b->report_len++] = '\n';
    b->report[b->report_len] = '\0';
}

/* The label without surrounding ASCII blanks ("1 " in a hand-edited CSV is still class 1). */
static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s))
        (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static bool label_known(const struct ar_dataset_params *p, const char *s, size_t n)
{
    for (int i = 0; i < p->label_count; i++)
        if (strlen(p->labels[i]) == n && !memcmp(p->labels[i], s, n))
            return true;
    return false;
}

static bool check_text(struct ar__dataset_builder *b, int line, const char *col, const char *s, size_t n)
{
    size_t at;
    if (ar__utf8_check(s, n, &at))
        return true;
    if (s[at] == '\0')
        ar__dataset_bad_row(b, line, "column '%s' contains a NUL byte", col);
    else
        ar__dataset_bad_row(b, line, "column '%s' is not valid UTF-8 (byte %zu of the field)", col, at + 1);
    return false;
}

/* Validates one row's fields and stores it. Absent fields are NULL. */
static void add_row(struct ar__dataset_builder *b, int line, const char *a, size_t na, const char *bb,
                    size_t nb, const char *label, size_t nl)
{
    if (!check_text(b, line, b->col_a, a, na))
        return;
    if (bb && !check_text(b, line, b->col_b, bb, nb))
        return;
    if (b->col_label) {
        if (!check_text(b, line, b->col_label, label, nl))
            return;
        trim(&label, &nl);
        if (nl == 0) {
            ar__dataset_bad_row(b, line, "column '%s' is empty", b->col_label);
            return;
        }
        if (b->p->labels && !label_known(b->p, label, nl)) {
            ar__dataset_bad_row(b, line, "unknown label \"%.*s\" (not among the %d known classes)",
                    (int)(nl > 64 ? 64 : nl), label, b->p->label_count);
            return;
        }
    }
    struct ar__dataset_row r = {.line = line};
    r.text = ar__dataset_store_put(b, a, na);
    r.text_b = bb ? ar__dataset_store_put(b, bb, nb) : AR__DATASET_NONE;
    r.label = b->col_label ? ar__dataset_store_put(b, label, nl) : AR__DATASET_NONE;
    ar__dataset_add_row(b, &r);
}

bool ar__dataset_add_row(struct ar__dataset_builder *b, const struct ar__dataset_row *row)
{
    if (b->nrows == b->cap_rows) {
        int cap = b->cap_rows ? 2 * b->cap_rows : 256;
        struct ar__dataset_row *r = realloc(b->rows, (size_t)cap * sizeof *r);
        if (!r) {
            b->oom = true;
            return false;
        }
        b->rows = r, b->cap_rows = cap;
    }
    b->rows[b->nrows++] = *row;
    return true;
}

/* ---- the column set ---------------------------------------------------------------------- */

static bool has(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return true;
    return false;
}

/* Picks the column set (from the params, else the names present) and the column names. */
static bool choose_columns(struct ar__dataset_builder *b, const char *const *names, int n)
{
    const struct ar_dataset_params *p = b->p;
    enum ar_dataset_columns c = p->columns;
    if (c == AR_DATASET_COLUMNS_AUTO) {
        if (p->text_column)
            c = p->text_b_column ? AR_DATASET_COLUMNS_PAIR : AR_DATASET_COLUMNS_TEXT;
        else if (has(names, n, "tokens") && has(names, n, "ner_tags"))
            c = AR_DATASET_COLUMNS_TOKENS;
        else if (has(names, n, "prompt") && has(names, n, "completion"))
            c = AR_DATASET_COLUMNS_PROMPT;
        else if (has(names, n, "text_a") && has(names, n, "text_b"))
            c = AR_DATASET_COLUMNS_PAIR;
        else if (has(names, n, "text"))
            c = AR_DATASET_COLUMNS_TEXT;
        else
            return false;
    }
    b->columns = c;
    static const char *const def_a[] = {"", "text", "text_a", "prompt", "tokens"};
    static const char *const def_b[] = {NULL, NULL, "text_b", "completion", NULL};
    bool tokens = c == AR_DATASET_COLUMNS_TOKENS;
    b->col_a = p->text_column ? p->text_column : def_a[c];
    b->col_b = c == AR_DATASET_COLUMNS_TEXT || tokens ? NULL
               : p->text_b_column                     ? p->text_b_column
                                                      : def_b[c];
    b->col_label = c == AR_DATASET_COLUMNS_PROMPT ? NULL
                   : p->label_column              ? p->label_column
                   : tokens                       ? "ner_tags"
                                                  : "label";
    return true;
}

static void list_names(char *out, size_t size, const char *const *names, int n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n && len + 1 < size; i++) {
        int w = snprintf(out + len, size - len, "%s%s", i ? ", " : "", names[i]);
        len += w > 0 ? (size_t)w : 0;
    }
}

static const char *const columns_hint =
    "expected text,label or text_a,text_b,label or prompt,completion or tokens,ner_tags (JSONL)";

/* ---- CSV / TSV ---------------------------------------------------------------------------- */

static int column_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

enum ar_status ar__dataset_read_delimited(struct ar__dataset_builder *b, const char *data, size_t size,
                                          char sep, char *err, size_t err_size)
{
    struct ar__records r;
    ar__records_init(&r, data, size, sep, sep == ',');
    char msg[256];
    enum ar_status st = AR_STATUS_OK;
    char **header = NULL;
    int ncols = 0;
    enum ar__record_result res = ar__records_next(&r, msg, sizeof msg);
    if (res == AR__RECORD_END) {
        snprintf(err, err_size, "%s: the file is empty (a header row is required)", b->name);
        st = AR_STATUS_BAD_FORMAT;
        goto done;
    }
    if (res != AR__RECORD_OK) {
        snprintf(err, err_size, "%s:%d: header row: %s", b->name, r.rec_line,
                 res == AR__RECORD_BAD ? msg : "out of memory");
        st = res == AR__RECORD_BAD ? AR_STATUS_BAD_FORMAT : AR_STATUS_OUT_OF_MEMORY;
        goto done;
    }
    ncols = r.nfields;
    header = calloc((size_t)ncols, sizeof *header);
    bool copied = header != NULL;
    for (int i = 0; copied && i < ncols; i++)
        copied = (header[i] = strdup(ar__records_field(&r, i))) != NULL;
    if (!copied) {
        st = AR_STATUS_OUT_OF_MEMORY;
        snprintf(err, err_size, "%s: out of memory", b->name);
        goto done;
    }
    const char *const *names = (const char *const *)header;
    char list[512];
    list_names(list, sizeof list, names, ncols);
    for (int i = 0; i < ncols; i++)
        if (column_index(names, i, names[i]) >= 0) {
            snprintf(err, err_size, "%s:%d: the header names column '%s' twice", b->name,
                     r.rec_line, names[i]);
            st = AR_STATUS_BAD_FORMAT;
            goto done;
        }
    if (!choose_columns(b, names, ncols)) {
        snprintf(err, err_size, "%s:%d: no known column set in the header (%s); %s", b->name,
                 r.rec_line, list, columns_hint);
        st = AR_STATUS_BAD_FORMAT;
        goto done;
    }
    if (b->columns == AR_DATASET_COLUMNS_TOKENS) {
        snprintf(err, err_size,
                 "%s: token classification data (%s, %s) must be JSONL, one list of words and "
                 "one of tags per row",
                 b->name, b->col_a, b->col_label);
        st = AR_STATUS_BAD_FORMAT;
        goto done;
    }
    const char *want[3] = {b->col_a, b->col_b, b->col_label};
    int idx[3] = {-1, -1, -1};
    for (int k = 0; k < 3; k++) {
        if (!want[k])
            continue;
        idx[k] = column_index(names, ncols, want[k]);
        if (idx[k] < 0) {
            snprintf(err, err_size, "%s:%d: no column '%s' in the header (columns: %s)",
                     b->name, r.rec_line, want[k], list);
            st = AR_STATUS_BAD_FORMAT;
            goto done;
        }
    }
    while ((res = ar__records_next(&r, msg, sizeof msg)) != AR__RECORD_END) {
        if (res == AR__RECORD_NO_MEMORY) {
            b->oom = true;
            break;
        }
        if (res == AR__RECORD_BAD) {
            ar__dataset_bad_row(b, r.rec_line, "%s", msg);
            continue;
        }
        if (r.nfields != ncols) {
            ar__dataset_bad_row(b, r.rec_line, "expected %d fields (as in the header), found %d", ncols,
                    r.nfields);
            continue;
        }
#define FIELD(k) (idx[k] >= 0 ? ar__records_field(&r, idx[k]) : NULL)
#define LEN(k) (idx[k] >= 0 ? r.lens[idx[k]] : 0)
        add_row(b, r.rec_line, FIELD(0), LEN(0), FIELD(1), LEN(1), FIELD(2), LEN(2));
#undef FIELD
#undef LEN
    }
done:
    for (int i = 0; header && i < ncols; i++)
        free(header[i]);
    free(header);
    ar__records_release(&r);
    return st;
}

/* ---- JSONL -------------------------------------------------------------------------------- */

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

/* A text member: a JSON string without NUL. */
static const char *json_text(struct ar__dataset_builder *b, int line, const struct ar__json_node *obj,
                             const char *key, size_t *len)
{
    const struct ar__json_node *n = ar__json_get(obj, key);
    if (!n) {
        ar__dataset_bad_row(b, line, "no \"%s\" member", key);
        return NULL;
    }
    if (n->type != AR__JSON_STRING) {
        ar__dataset_bad_row(b, line, "\"%s\" must be a string", key);
        return NULL;
    }
    if (strlen(n->str) != n->len) {
        ar__dataset_bad_row(b, line, "\"%s\" contains a NUL character", key);
        return NULL;
    }
    *len = n->len;
    return n->str;
}

static void jsonl_row(struct ar__dataset_builder *b, int line, const char *s, size_t n)
{
    char msg[256];
    struct ar__json_doc *doc = ar__json_parse(s, n, msg, sizeof msg);
    if (!doc) {
        /* the parser counts lines inside the text; a JSONL row is one line, so keep the column */
        const char *col = strstr(msg, "column ");
        ar__dataset_bad_row(b, line, "invalid JSON: %s", col ? col : msg);
        return;
    }
    const struct ar__json_node *obj = ar__json_root(doc);
    if (obj->type != AR__JSON_OBJECT) {
        ar__dataset_bad_row(b, line, "a row must be a JSON object");
        goto done;
    }
    if (!b->col_a) {
        const char **keys = obj->keys;
        if (!choose_columns(b, keys, (int)obj->count)) {
            char list[512];
            list_names(list, sizeof list, keys, (int)obj->count);
            ar__dataset_bad_row(b, line, "no known column set among the members (%s); %s", list,
                    columns_hint);
            goto done;
        }
    }
    if (b->columns == AR_DATASET_COLUMNS_TOKENS) { /* lists, not texts: dataset_tokens.c */
        ar__dataset_tokens_row(b, line, obj);
        goto done;
    }
    size_t na = 0, nb = 0, nl = 0;
    const char *a = json_text(b, line, obj, b->col_a, &na);
    if (!a)
        goto done;
    const char *bb = NULL;
    if (b->col_b && !(bb = json_text(b, line, obj, b->col_b, &nb)))
        goto done;
    const char *label = NULL;
    char num[32];
    if (b->col_label) {
        const struct ar__json_node *l = ar__json_get(obj, b->col_label);
        if (!l) {
            ar__dataset_bad_row(b, line, "no \"%s\" member", b->col_label);
            goto done;
        }
        if (l->type == AR__JSON_NUMBER && l->is_int) {
            snprintf(num, sizeof num, "%lld", (long long)l->i64);
            label = num, nl = strlen(num);
        } else if (l->type == AR__JSON_STRING && strlen(l->str) == l->len) {
            label = l->str, nl = l->len;
        } else {
            ar__dataset_bad_row(b, line, "\"%s\" must be a string or an integer", b->col_label);
            goto done;
        }
    }
    add_row(b, line, a, na, bb, nb, label, nl);
done:
    ar__json_free(doc);
}

void ar__dataset_read_jsonl(struct ar__dataset_builder *b, const char *data, size_t size)
{
    size_t pos = 0;
    if (size >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3))
        pos = 3;
    for (int line = 1; pos < size && !b->oom; line++) {
        const char *nl = memchr(data + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - data) : size;
        if (!blank(data + pos, end - pos))
            jsonl_row(b, line, data + pos, end - pos);
        pos = end + 1;
    }
    if (!b->col_a) /* no valid row at all: still name the default column set */
        choose_columns(b, NULL, 0);
}
