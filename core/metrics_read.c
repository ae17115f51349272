/* Tailing metrics.jsonl: each poll reads what was appended since the last one, parses every
 * complete line and keeps an unfinished last line for later (the writer may be inside it).
 *
 * The file is reopened on every poll, so a reader survives the writer closing and reopening it
 * (a resumed run appends) and notices a file that was replaced by a shorter one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "metrics_internal.h"

struct ar_metrics_reader {
    char *path;
    long long read_offset; /* bytes of the file read so far (consumed + pending) */
    char *buf;             /* read but not yet consumed bytes: the start of the next line */
    size_t len, cap;
    long line; /* lines consumed */
    struct ar_metrics_run run;
    char errmsg[768];
};

enum ar_status ar_metrics_reader_new(const char *path, struct ar_metrics_reader **out)
{
    *out = NULL;
    if (!path) return AR_STATUS_INVALID_ARGUMENT;
    struct ar_metrics_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    *out = r;
    return AR_STATUS_OK;
}

void ar_metrics_reader_free(struct ar_metrics_reader *r)
{
    if (!r) return;
    ar_metrics_run_clear(&r->run);
    free(r->buf);
    free(r->path);
    free(r);
}

const char *ar_metrics_reader_errmsg(const struct ar_metrics_reader *r)
{
    return r ? r->errmsg : "no reader";
}

size_t ar_metrics_reader_pending(const struct ar_metrics_reader *r)
{
    return r->len;
}

const struct ar_metrics_run *ar_metrics_reader_run(const struct ar_metrics_reader *r)
{
    return &r->run;
}

/* Parses every complete line in the buffer; stops after a bad one (which is consumed). */
static enum ar_status consume_lines(struct ar_metrics_reader *r, size_t *events)
{
    size_t start = 0;
    enum ar_status st = AR_STATUS_OK;
    while (start < r->len) {
        char *nl = memchr(r->buf + start, '\n', r->len - start);
        if (!nl) break;
        size_t end = (size_t)(nl - r->buf), n = end - start;
        r->line++;
        if (n > 0 && r->buf[start + n - 1] == '\r') n--;
        size_t blank = 0;
        while (blank < n && (r->buf[start + blank] == ' ' || r->buf[start + blank] == '\t'))
            blank++;
        if (blank < n) {
            char where[600];
            snprintf(where, sizeof where, "%s:%ld", r->path, r->line);
            st = ar_metrics_run_parse_line(&r->run, r->buf + start, n, where, r->errmsg,
                                           sizeof r->errmsg);
            if (st == AR_STATUS_OK && events) (*events)++;
        }
        start = end + 1;
        if (st != AR_STATUS_OK) break;
    }
    /* r->buf is still NULL before the first read: no pointer arithmetic on it then. */
    if (start > 0) {
        memmove(r->buf, r->buf + start, r->len - start);
        r->len -= start;
    }
    return st;
}

static enum ar_status reader_fail(struct ar_metrics_reader *r, enum ar_status st, const char *what)
{
    snprintf(r->errmsg, sizeof r->errmsg, "%s: %s", r->path, what);
    return st;
}

enum ar_status ar_metrics_reader_poll(struct ar_metrics_reader *r, size_t *events)
{
    if (events) *events = 0;
    r->errmsg[0] = '\0';
    enum ar_status st = consume_lines(r, events); /* lines left by a call that stopped early */
    if (st != AR_STATUS_OK) return st;
    FILE *f = fopen(r->path, "rb");
    if (!f)
        return reader_fail(r, errno == ENOENT ? AR_STATUS_NOT_FOUND : AR_STATUS_IO,
                           strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || sb.st_size < r->read_offset) {
        fclose(f);
        return reader_fail(r, AR_STATUS_IO, "the file shrank: it was replaced by another run");
    }
    if (fseeko(f, (off_t)r->read_offset, SEEK_SET) != 0) {
        fclose(f);
        return reader_fail(r, AR_STATUS_IO, strerror(errno));
    }
    for (;;) {
        if (r->cap - r->len < 65536 &&
            !ar__metrics_grow((void **)&r->buf, &r->cap, r->len + 65536, 1)) {
            st = reader_fail(r, AR_STATUS_OUT_OF_MEMORY, "out of memory");
            break;
        }
        size_t got = fread(r->buf + r->len, 1, r->cap - r->len, f);
        r->len += got;
        r->read_offset += (long long)got;
        if (got == 0) break;
        if ((st = consume_lines(r, events)) != AR_STATUS_OK) break;
    }
    if (st == AR_STATUS_OK && ferror(f)) st = reader_fail(r, AR_STATUS_IO, "read failed");
    fclose(f);
    return st;
}

enum ar_status ar_metrics_read_file(const char *path, struct ar_metrics_run *run, char *err,
                                    size_t err_size)
{
    memset(run, 0, sizeof *run);
    struct ar_metrics_reader *r = NULL;
    enum ar_status st = ar_metrics_reader_new(path, &r);
    if (st != AR_STATUS_OK) {
        snprintf(err, err_size, "%s: out of memory", path ? path : "(null)");
        return st;
    }
    st = ar_metrics_reader_poll(r, NULL);
    if (st == AR_STATUS_OK && r->run.schema == 0)
        st = reader_fail(r, AR_STATUS_BAD_FORMAT, "no run_start event: not a metrics file");
    if (st != AR_STATUS_OK) {
        snprintf(err, err_size, "%s", r->errmsg);
    } else {
        *run = r->run; /* moved out; a truncated last line (r->len > 0) is ignored */
        memset(&r->run, 0, sizeof r->run);
    }
    ar_metrics_reader_free(r);
    return st;
}
