/* CSV (RFC 4180) and TSV record readers, and a UTF-8 checker, for ar_dataset_read.
 *
 * CSV: fields are separated by commas and records by LF or CRLF. A field that starts with a
 * double quote runs to the matching closing quote and may contain commas, line breaks and quotes
 * written twice (""). Like Python's csv module and most spreadsheets, a quote inside an unquoted
 * field is kept as an ordinary character (RFC 4180 forbids it, but real files have it).
 *
 * TSV: one record per line, fields separated by tabs, no quoting at all; the fine-food data has
 * reviews that begin with a quoted title, which CSV quoting rules would mangle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"

void ar__records_init(struct ar__records *r, const char *s, size_t len, char sep, bool quoting)
{
    memset(r, 0, sizeof *r);
    r->s = s, r->len = len, r->sep = sep, r->quoting = quoting, r->line = 1;
    if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
        r->pos = 3;
}

void ar__records_release(struct ar__records *r)
{
    free(r->buf);
    free(r->starts);
    free(r->lens);
    r->buf = NULL, r->starts = r->lens = NULL;
}

static bool put_byte(struct ar__records *r, char c)
{
    if (r->buf_len == r->buf_cap) {
        size_t cap = r->buf_cap ? 2 * r->buf_cap : 256;
        char *p = realloc(r->buf, cap);
        if (!p)
            return false;
        r->buf = p, r->buf_cap = cap;
    }
    r->buf[r->buf_len++] = c;
    return true;
}

static bool start_field(struct ar__records *r)
{
    if (r->nfields == r->cap_fields) {
        int cap = r->cap_fields ? 2 * r->cap_fields : 8;
        size_t *s = realloc(r->starts, (size_t)cap * sizeof *s);
        if (!s)
            return false;
        r->starts = s;
        size_t *l = realloc(r->lens, (size_t)cap * sizeof *l);
        if (!l)
            return false;
        r->lens = l, r->cap_fields = cap;
    }
    r->starts[r->nfields++] = r->buf_len;
    return true;
}

static bool end_field(struct ar__records *r)
{
    r->lens[r->nfields - 1] = r->buf_len - r->starts[r->nfields - 1];
    return put_byte(r, '\0');
}

/* Length of the line break at pos (LF or CRLF), 0 when there is none. */
static size_t line_break(const struct ar__records *r, size_t pos)
{
    if (pos < r->len && r->s[pos] == '\n')
        return 1;
    if (pos + 1 < r->len && r->s[pos] == '\r' && r->s[pos + 1] == '\n')
        return 2;
    if (pos + 1 == r->len && r->s[pos] == '\r')
        return 1; /* a lone CR as the file's last byte */
    return 0;
}

/* After a malformed record: continue at the next line. */
static void skip_line(struct ar__records *r)
{
    while (r->pos < r->len && r->s[r->pos] != '\n')
        r->pos++;
    if (r->pos < r->len)
        r->pos++, r->line++;
}

/* A quoted field: pos is just after the opening quote. */
static enum ar__record_result quoted_field(struct ar__records *r, char *msg, size_t msg_size)
{
    int opened = r->line;
    for (;;) {
        if (r->pos >= r->len) {
            snprintf(msg, msg_size, "quoted field opened on line %d is never closed", opened);
            return AR__RECORD_BAD;
        }
        char c = r->s[r->pos];
        if (c == '"') {
            if (r->pos + 1 < r->len && r->s[r->pos + 1] == '"') {
                if (!put_byte(r, '"'))
                    return AR__RECORD_NO_MEMORY;
                r->pos += 2;
                continue;
            }
            r->pos++;
            break;
        }
        if (c == '\n')
            r->line++;
        if (!put_byte(r, c))
            return AR__RECORD_NO_MEMORY;
        r->pos++;
    }
    if (r->pos < r->len && r->s[r->pos] != r->sep && !line_break(r, r->pos)) {
        snprintf(msg, msg_size, "unexpected character after a closing quote");
        skip_line(r);
        return AR__RECORD_BAD;
    }
    return AR__RECORD_OK;
}

enum ar__record_result ar__records_next(struct ar__records *r, char *msg, size_t msg_size)
{
    size_t br;
    while ((br = line_break(r, r->pos)) != 0) /* blank lines */
        r->pos += br, r->line++;
    if (r->pos >= r->len)
        return AR__RECORD_END;
    r->rec_line = r->line;
    r->nfields = 0, r->buf_len = 0;
    for (;;) {
        if (!start_field(r))
            return AR__RECORD_NO_MEMORY;
        if (r->quoting && r->pos < r->len && r->s[r->pos] == '"') {
            r->pos++;
            enum ar__record_result res = quoted_field(r, msg, msg_size);
            if (res != AR__RECORD_OK)
                return res;
        } else {
            while (r->pos < r->len && r->s[r->pos] != r->sep && !line_break(r, r->pos)) {
                if (!put_byte(r, r->s[r->pos]))
                    return AR__RECORD_NO_MEMORY;
                r->pos++;
            }
        }
        if (!end_field(r))
            return AR__RECORD_NO_MEMORY;
        if (r->pos < r->len && r->s[r->pos] == r->sep) {
            r->pos++;
            continue;
        }
        br = line_break(r, r->pos);
        if (br)
            r->pos += br, r->line++;
        return AR__RECORD_OK;
    }
}

bool ar__utf8_check(const char *str, size_t n, size_t *bad)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t need;
        unsigned long cp, min;
        if (c == 0)
            goto invalid;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            goto invalid;
        }
        if (i + need >= n) /* truncated sequence */
            goto invalid;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                goto invalid;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            goto invalid;
        i += need + 1;
        continue;
    invalid:
        if (bad)
            *bad = i;
        return false;
    }
    return true;
}
