/* Checkpoints in a run folder: finding them, resuming from the newest good one, and cutting
 * metrics.jsonl back to the resumed step (checkpoint.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "checkpoint_internal.h"
#include "json.h"

/* "checkpoint-<digits>.arck" exactly (not the .tmp of an unfinished write); -1 otherwise. */
static int step_of(const char *name)
{
    if (strncmp(name, "checkpoint-", 11))
        return -1;
    const char *p = name + 11;
    long step = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 10; p++, digits++)
        step = step * 10 + (*p - '0');
    return digits && step <= 0x7fffffff && !strcmp(p, ".arck") ? (int)step : -1;
}

static int cmp_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

int ar_checkpoint_list(const char *dir, int *steps, int cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0, all[1024];
    for (struct dirent *e; (e = readdir(d)) && n < 1024;) {
        int s = step_of(e->d_name);
        if (s >= 0)
            all[n++] = s;
    }
    closedir(d);
    qsort(all, (size_t)n, sizeof *all, cmp_desc);
    n = n < cap ? n : cap;
    memcpy(steps, all, (size_t)n * sizeof *steps);
    return n;
}

static void note(char *notes, size_t size, const char *line)
{
    if (!notes || !size)
        return;
    size_t len = strlen(notes);
    snprintf(notes + len, size - len, "%s\n", line);
}

enum ar_status ar_checkpoint_load_latest(struct ar_trainer *t, struct ar_method *method,
                                         const char *dir, int *step, char *notes,
                                         size_t notes_size)
{
    struct ar_ctx *ctx = ar_trainer_ctx(t);
    if (notes && notes_size)
        notes[0] = '\0';
    int steps[64];
    int n = ar_checkpoint_list(dir, steps, 64);
    if (n == 0)
        return ar__fail(ctx, AR_STATUS_NOT_FOUND,
                        "%s: no checkpoint (checkpoint-<step>.arck) to resume from", dir);
    enum ar_status st = AR_STATUS_NOT_FOUND;
    for (int i = 0; i < n; i++) {
        char path[4096], line[1536];
        snprintf(path, sizeof path, "%s/checkpoint-%d.arck", dir, steps[i]);
        st = ar_checkpoint_load(t, method, path);
        if (st == AR_STATUS_OK) {
            *step = steps[i];
            return st;
        }
        /* a damaged or foreign file falls back to the previous one; a device failure does not */
        if (st != AR_STATUS_BAD_FORMAT && st != AR_STATUS_IO && st != AR_STATUS_INVALID_ARGUMENT)
            return st;
        snprintf(line, sizeof line, "%.1000s; %s", ar_ctx_errmsg(ctx),
                 i + 1 < n ? "falling back to the previous checkpoint" : "no older checkpoint");
        ar__log(ctx, AR_LOG_WARN, "%s", line);
        note(notes, notes_size, line);
    }
    char last[1024];
    snprintf(last, sizeof last, "%s", ar_ctx_errmsg(ctx));
    return ar__fail(ctx, st, "%s: no good checkpoint (the last tried: %s)", dir, last);
}

enum ar_status ar_checkpoint_find(const char *dir, int *step, char *path, size_t path_size,
                                  char *notes, size_t notes_size)
{
    if (notes && notes_size)
        notes[0] = '\0';
    int steps[64];
    int n = ar_checkpoint_list(dir, steps, 64);
    for (int i = 0; i < n; i++) {
        char file[4096], why[2048], line[2560];
        snprintf(file, sizeof file, "%s/checkpoint-%d.arck", dir, steps[i]);
        size_t size = 0;
        enum ar_status st;
        unsigned char *d = ar__checkpoint_read(file, &size, why, sizeof why, &st);
        bool read = d != NULL, good = read && ar__checkpoint_check_whole(d, size, why, sizeof why);
        free(d);
        if (good) {
            *step = steps[i];
            snprintf(path, path_size, "%s", file);
            return AR_STATUS_OK;
        }
        if (read) { /* why has no file name yet */
            char tmp[1024];
            snprintf(tmp, sizeof tmp, "%.1000s", why);
            snprintf(why, sizeof why, "%.1000s: %.1000s", file, tmp);
        }
        snprintf(line, sizeof line, "%.2048s; %s", why,
                 i + 1 < n ? "falling back to the previous checkpoint" : "no older checkpoint");
        note(notes, notes_size, line);
    }
    return AR_STATUS_NOT_FOUND;
}

void ar__checkpoint_prune(const char *dir, int keep)
{
    int steps[1024];
    int n = ar_checkpoint_list(dir, steps, 1024);
    for (int i = keep; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/checkpoint-%d.arck", dir, steps[i]);
        unlink(path);
    }
    /* the temporaries of writes a kill interrupted: checkpoint-N.arck.tmp.PID[.n]
     * (atomic_file.h), or checkpoint-N.arck.tmp from before that */
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *t = strstr(e->d_name, ".arck.tmp");
        if (!strncmp(e->d_name, "checkpoint-", 11) && t && (t[9] == '\0' || t[9] == '.')) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    if (d)
        closedir(d);
}

void ar_checkpoint_remove_all(const char *dir)
{
    ar__checkpoint_prune(dir, 0);
}

/* ---- metrics.jsonl --------------------------------------------------------------------------- */

/* The event name and step of one line; false for a line that is not a JSON object. */
static bool line_event(const char *line, size_t len, char *event, size_t event_size,
                       int64_t *step)
{
    char err[128];
    struct ar__json_doc *doc = ar__json_parse(line, len, err, sizeof err);
    const struct ar__json_node *root = doc ? ar__json_root(doc) : NULL;
    const char *name = NULL;
    bool ok = root && ar__json_as_string(ar__json_get(root, "event"), &name);
    if (ok) {
        snprintf(event, event_size, "%s", name);
        const struct ar__json_node *s = ar__json_get(root, "step");
        *step = s && s->type == AR__JSON_NUMBER ? (int64_t)s->num : -1;
    }
    ar__json_free(doc);
    return ok;
}

static char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            char *p = realloc(text, cap = (n + 65536 + 1) * 2);
            if (!p) {
                free(text);
                fclose(f);
                return NULL;
            }
            text = p;
        }
        size_t r = fread(text + n, 1, 65536, f);
        n += r;
        if (r < 65536)
            break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *size = n;
    return text;
}

enum ar_status ar_checkpoint_trim_metrics(const char *path, int step, int *last_ranks_step,
                                          char *err, size_t err_size)
{
    if (last_ranks_step)
        *last_ranks_step = -1;
    size_t size = 0;
    char *text = slurp(path, &size);
    if (!text) {
        snprintf(err, err_size, "%s: cannot read: %s", path, strerror(errno));
        return AR_STATUS_IO;
    }
    /* durably (atomic_file.h): a kill during the rewrite leaves the whole old file */
    struct ar__atomic_file af;
    if (ar__atomic_open(&af, path, err, err_size) != AR_STATUS_OK) {
        free(text);
        return AR_STATUS_IO;
    }
    for (char *line = text; line < text + size;) {
        char *nl = memchr(line, '\n', (size_t)(text + size - line));
        if (!nl)
            break; /* a line cut by the kill: never complete, dropped */
        char event[32];
        int64_t s = -1;
        size_t len = (size_t)(nl - line);
        if (!line_event(line, len, event, sizeof event, &s) || s > step)
            break; /* written after the checkpoint (or damaged): the resumed run rewrites it */
        if (strcmp(event, "run_end")) {
            if (!ar__atomic_put(&af, line, len + 1))
                break; /* commit reports it */
            if (!strcmp(event, "ranks") && last_ranks_step)
                *last_ranks_step = (int)s;
        }
        line = nl + 1;
    }
    free(text);
    if (ar__atomic_commit(&af, err, err_size) != AR_STATUS_OK)
        return AR_STATUS_IO;
    return AR_STATUS_OK;
}
