/* Internals of ar_dataset_read, shared by core/dataset_*.c: the CSV/TSV record reader (one
 * record at a time, with the line each record starts on) and the row collector. */
#ifndef ADARANK_CORE_DATASET_INTERNAL_H
#define ADARANK_CORE_DATASET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "adarank/dataset.h"

struct ar__records {
    const char *s;
    size_t len, pos;
    int line;     /* current line (1-based) */
    char sep;     /* ',' or '\t' */
    bool quoting; /* CSV: fields may be quoted */
    int rec_line; /* the line the last record started on */
    /* The last record's fields, each NUL-terminated in buf, starting at starts[i]. */
    char *buf;
    size_t buf_len, buf_cap;
    size_t *starts, *lens;
    int nfields, cap_fields;
};

enum ar__record_result {
    AR__RECORD_OK,
    AR__RECORD_END,
    AR__RECORD_BAD,     /* malformed; msg says why; the reader has skipped past it */
    AR__RECORD_NO_MEMORY,
};

/* Starts reading s[0..len): skips a UTF-8 byte-order mark. */
void ar__records_init(struct ar__records *r, const char *s, size_t len, char sep, bool quoting);
/* Reads the next non-blank record. */
enum ar__record_result ar__records_next(struct ar__records *r, char *msg, size_t msg_size);
void ar__records_release(struct ar__records *r);

static inline const char *ar__records_field(const struct ar__records *r, int i)
{
    return r->buf + r->starts[i];
}

/* True when s[0..n) is well-formed UTF-8 without NUL bytes (no overlongs, no surrogates, nothing
 * above U+10FFFF); otherwise *bad gets the byte offset of the first bad sequence. */
bool ar__utf8_check(const char *s, size_t n, size_t *bad);

/* ---- the row collector (dataset_read.c) --------------------------------------------------- */

#define AR__DATASET_NONE ((size_t)-1)

struct ar__dataset_row {
    size_t text, text_b, label; /* offsets into the string store; AR__DATASET_NONE: absent */
    int line;
    int words; /* TOKENS rows: words at text and as many tags at label, each NUL-terminated */
};

struct ar__dataset_builder {
    const char *name;
    const struct ar_dataset_params *p;
    enum ar_dataset_columns columns;
    const char *col_a, *col_b, *col_label; /* NULL where the column set has none */
    char *store;
    size_t store_len, store_cap;
    struct ar__dataset_row *rows;
    int nrows, cap_rows;
    char *report; /* bad-row messages, one per line */
    size_t report_len, report_cap;
    int bad;
    bool oom;
};

/* Collect rows of a CSV/TSV (sep ',' or '\t') or JSONL file into b; bad rows are counted in b.
 * A problem with the whole file (no header, a missing column) is returned with err set. */
enum ar_status ar__dataset_read_delimited(struct ar__dataset_builder *b, const char *data,
                                          size_t size, char sep, char *err, size_t err_size);
void ar__dataset_read_jsonl(struct ar__dataset_builder *b, const char *data, size_t size);
/* The store and the bad-row report of the builder (dataset_read.c). store_put returns the
 * offset of the copy of s[0..n) (NUL-terminated), AR__DATASET_NONE when out of memory. */
size_t ar__dataset_store_put(struct ar__dataset_builder *b, const char *s, size_t n);
void ar__dataset_bad_row(struct ar__dataset_builder *b, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Appends a row (false when out of memory, which is also flagged in b->oom). */
bool ar__dataset_add_row(struct ar__dataset_builder *b, const struct ar__dataset_row *row);

/* ---- label ids (dataset_load.c) ------------------------------------------------------------ */

/* "0", "17": canonical non-negative decimal integers below 10^9. */
bool ar__dataset_integer_label(const char *s, long *out);
/* Copies of n names (NULL when out of memory). */
char **ar__dataset_dup_names(const char *const *names, int n);

/* ---- token classification rows (dataset_tokens.c) ------------------------------------------ */

/* Validates and stores one JSONL row of the TOKENS column set (words and tags lists). */
struct ar__json_node;
void ar__dataset_tokens_row(struct ar__dataset_builder *b, int line,
                            const struct ar__json_node *obj);
/* Tag names (given, integers, or the sorted set of every tag) and every row's tag ids. */
enum ar_status ar__dataset_tokens_labels(struct ar__dataset_builder *b, struct ar_dataset *ds,
                                         char *err, size_t err_size);

#endif
