/* A tiny JSON writer: a growable string buffer with escaping and locale-independent numbers
 * (see json.h). Out of memory is sticky: appends after a failure do nothing and the caller checks
 * `oom` once at the end. */
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- numbers: parsed in the C locale whatever setlocale() says (the GTK app sets the user's
 * locale, where the decimal point may be a comma) ------------------------------------------- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale_value;

static void c_locale_init(void)
{
    c_locale_value = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static locale_t c_locale(void)
{
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale_value;
}

double ar__json_strtod(const char *text, char **end)
{
    locale_t c = c_locale();
    locale_t old = c ? uselocale(c) : (locale_t)0;
    double v = strtod(text, end);
    if (c) uselocale(old);
    return v;
}

int ar__json_format_double(char *out, size_t size, const char *fmt, double v)
{
    locale_t c = c_locale();
    locale_t old = c ? uselocale(c) : (locale_t)0;
    int n = snprintf(out, size, fmt, v);
    if (c) uselocale(old);
    return n;
}

void ar__json_buf_free(struct ar__json_buf *b)
{
    free(b->data);
    *b = (struct ar__json_buf){0};
}

void ar__json_put_n(struct ar__json_buf *b, const char *text, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->oom = true;
            return;
        }
        b->data = grown, b->cap = cap;
    }
    memcpy(b->data + b->len, text, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ar__json_put(struct ar__json_buf *b, const char *text)
{
    ar__json_put_n(b, text, strlen(text));
}

void ar__json_comma(struct ar__json_buf *b)
{
    if (b->len && !strchr("{[:", b->data[b->len - 1]))
        ar__json_put_n(b, ",", 1);
}

void ar__json_write_string_n(struct ar__json_buf *b, const char *s, size_t len)
{
    ar__json_put_n(b, "\"", 1);
    size_t run = 0; /* bytes that need no escape are copied in runs */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        ar__json_put_n(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"':
            ar__json_put(b, "\\\"");
            break;
        case '\\':
            ar__json_put(b, "\\\\");
            break;
        case '\n':
            ar__json_put(b, "\\n");
            break;
        case '\r':
            ar__json_put(b, "\\r");
            break;
        case '\t':
            ar__json_put(b, "\\t");
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            ar__json_put(b, esc);
        }
    }
    ar__json_put_n(b, s + run, len - run);
    ar__json_put_n(b, "\"", 1);
}

void ar__json_write_string(struct ar__json_buf *b, const char *s)
{
    ar__json_write_string_n(b, s, strlen(s));
}

void ar__json_write_key(struct ar__json_buf *b, const char *key)
{
    ar__json_comma(b);
    ar__json_write_string(b, key);
    ar__json_put_n(b, ":", 1);
}

void ar__json_write_int(struct ar__json_buf *b, int64_t v)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    ar__json_put(b, text);
}

/* JSON has no NaN or infinity: they are written as null. 17 significant digits round-trip any
 * double, 9 any float (IEEE 754-2008 §5.12.2). */
void ar__json_write_double(struct ar__json_buf *b, double v)
{
    char text[40];
    if (!isfinite(v)) {
        ar__json_put(b, "null");
        return;
    }
    ar__json_format_double(text, sizeof text, "%.17g", v);
    ar__json_put(b, text);
}

void ar__json_write_float(struct ar__json_buf *b, float v)
{
    char text[40];
    if (!isfinite(v)) {
        ar__json_put(b, "null");
        return;
    }
    ar__json_format_double(text, sizeof text, "%.9g", (double)v);
    ar__json_put(b, text);
}
