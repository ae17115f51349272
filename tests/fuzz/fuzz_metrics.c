/* Fuzzes the metrics.jsonl reader (core/metrics_read.c, metrics_parse.c, metrics_ranks.c)
 * the way the GUI follows a live run: byte 0 says where the file is cut; the reader polls the
 * first part (a writer caught mid-line), then the whole file is there and it polls until every
 * line is consumed. A bad line must not lose the run: polling goes on after it. Then the file is
 * read once more with ar_metrics_read_file. */
#include "fuzz.h"

#include <adarank/metrics.h>
#include <adarank/status.h>

#include <stdbool.h>
#include <stdio.h>

/* Returns whether a bad line was met. */
static bool poll_all(struct ar_metrics_reader *r, size_t lines)
{
    bool bad = false;
    /* Each call consumes at least the bad line it stops at, so lines + 2 calls always finish. */
    for (size_t i = 0; i < lines + 2; i++) {
        size_t events = 0;
        enum ar_status s = ar_metrics_reader_poll(r, &events);
        (void)ar_metrics_reader_errmsg(r);
        if (s != AR_STATUS_BAD_FORMAT) break;
        bad = true;
    }
    (void)ar_metrics_reader_pending(r);
    return bad;
}

int ar_fuzz_metrics(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const uint8_t *text = data + 1;
    size_t len = size - 1, cut = (size_t)data[0] * len / 255, lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    const char *path = ar_fuzz_write("metrics.jsonl", text, cut);
    if (!path) return 0;
    struct ar_metrics_reader *r = NULL;
    if (ar_metrics_reader_new(path, &r) != AR_STATUS_OK) return 0;
    bool bad = poll_all(r, lines);
    FILE *f = fopen(path, "ab");
    if (f) {
        fwrite(text + cut, 1, len - cut, f);
        fclose(f);
    }
    bad |= poll_all(r, lines);

    /* A clean file read in two polls gives the same run as read in one go: no event lost. */
    struct ar_metrics_run run = {0};
    char err[512];
    if (ar_metrics_read_file(path, &run, err, sizeof err) == AR_STATUS_OK && !bad) {
        const struct ar_metrics_run *live = ar_metrics_reader_run(r);
        if (live->loss.count != run.loss.count || live->n_snapshots != run.n_snapshots ||
            live->last_step != run.last_step || live->ended != run.ended ||
            live->n_modules != run.n_modules)
            __builtin_trap();
    }
    ar_metrics_run_clear(&run);
    ar_metrics_reader_free(r);
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_metrics)
