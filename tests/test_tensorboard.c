/* TensorBoard event files: write scalars, a histogram and an image, then read the file back with
 * an independent reader (bitwise CRC-32C, a minimal protobuf decoder) that checks both CRCs of
 * every frame and every field written. Set ADARANK_TB_KEEP=DIR to keep the file in DIR for a
 * check with TensorBoard itself (docs/tensorboard.md). No device needed. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

/* CRC-32C bit by bit (no table), so the library's table-driven version is checked against a
 * second implementation. */
static uint32_t crc_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

static uint32_t masked(uint32_t c)
{
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- a minimal protobuf reader ------------------------------------------------------------ */

struct field {
    int number, wire;
    uint64_t varint;           /* wire 0, and the raw bits of wire 1 / 5 */
    const unsigned char *data; /* wire 2 */
    size_t len;
};

static bool varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    *out = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char b = *(*p)++;
        *out |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

static bool next_field(const unsigned char **p, const unsigned char *end, struct field *f)
{
    uint64_t key;
    if (*p >= end || !varint(p, end, &key)) return false;
    f->number = (int)(key >> 3), f->wire = (int)(key & 7);
    switch (f->wire) {
    case 0:
        return varint(p, end, &f->varint);
    case 1:
    case 5: {
        int n = f->wire == 1 ? 8 : 4;
        if (end - *p < n) return false;
        f->varint = le(*p, n);
        *p += n;
        return true;
    }
    case 2:
        if (!varint(p, end, &f->varint) || (uint64_t)(end - *p) < f->varint) return false;
        f->data = *p, f->len = (size_t)f->varint;
        *p += f->len;
        return true;
    }
    return false;
}

static double as_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

static float as_float(uint64_t bits)
{
    uint32_t b = (uint32_t)bits;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* What one Event holds (only the fields we write). */
struct event {
    double wall_time;
    int64_t step;
    char file_version[32];
    char tag[64];
    bool has_scalar, has_histo, has_image;
    float scalar;
    double hmin, hmax, hnum, hsum, hsum_sq, limits[64], counts[64];
    int n_limits, n_counts;
    int64_t height, width, colorspace;
    size_t png_len;
    const unsigned char *png;
};

static void decode_packed(const struct field *f, double *out, int *n)
{
    *n = 0;
    for (size_t i = 0; i + 8 <= f->len && *n < 64; i += 8)
        out[(*n)++] = as_double(le(f->data + i, 8));
}

static bool decode_histo(const unsigned char *p, size_t n, struct event *e)
{
    const unsigned char *end = p + n;
    struct field f;
    double *scalars[] = {NULL, &e->hmin, &e->hmax, &e->hnum, &e->hsum, &e->hsum_sq};
    while (next_field(&p, end, &f)) {
        if (f.number >= 1 && f.number <= 5 && f.wire == 1)
            *scalars[f.number] = as_double(f.varint);
        else if (f.number == 6 && f.wire == 2)
            decode_packed(&f, e->limits, &e->n_limits);
        else if (f.number == 7 && f.wire == 2)
            decode_packed(&f, e->counts, &e->n_counts);
    }
    e->has_histo = true;
    return p == end;
}

static bool decode_value(const unsigned char *p, size_t n, struct event *e)
{
    const unsigned char *end = p + n;
    struct field f;
    while (next_field(&p, end, &f)) {
        if (f.number == 1 && f.wire == 2)
            snprintf(e->tag, sizeof e->tag, "%.*s", (int)f.len, (const char *)f.data);
        else if (f.number == 2 && f.wire == 5)
            e->scalar = as_float(f.varint), e->has_scalar = true;
        else if (f.number == 5 && f.wire == 2)
            decode_histo(f.data, f.len, e);
        else if (f.number == 4 && f.wire == 2) {
            const unsigned char *q = f.data, *qend = f.data + f.len;
            struct field g;
            e->has_image = true;
            while (next_field(&q, qend, &g)) {
                if (g.number == 1) e->height = (int64_t)g.varint;
                if (g.number == 2) e->width = (int64_t)g.varint;
                if (g.number == 3) e->colorspace = (int64_t)g.varint;
                if (g.number == 4) e->png = g.data, e->png_len = g.len;
            }
        }
    }
    return p == end;
}

static bool decode_event(const unsigned char *p, size_t n, struct event *e)
{
    const unsigned char *end = p + n;
    struct field f;
    memset(e, 0, sizeof *e);
    while (next_field(&p, end, &f)) {
        if (f.number == 1 && f.wire == 1)
            e->wall_time = as_double(f.varint);
        else if (f.number == 2 && f.wire == 0)
            e->step = (int64_t)f.varint;
        else if (f.number == 3 && f.wire == 2)
            snprintf(e->file_version, sizeof e->file_version, "%.*s", (int)f.len,
                     (const char *)f.data);
        else if (f.number == 5 && f.wire == 2) {
            const unsigned char *q = f.data, *qend = f.data + f.len;
            struct field v;
            while (next_field(&q, qend, &v))
                if (v.number == 1 && v.wire == 2 && !decode_value(v.data, v.len, e)) return false;
        }
    }
    return p == end;
}

/* ---- the test ----------------------------------------------------------------------------- */

static const unsigned char fake_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 1, 2, 3};

static void write_events(const char *dir, char *path, size_t size)
{
    char err[512];
    struct ar_tb_writer *w = NULL;
    enum ar_status st = ar_tb_writer_open(dir, &w, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "open: %s", err);
    if (!w) return;
    snprintf(path, size, "%s", ar_tb_writer_path(w));
    CHECK(strstr(path, "/events.out.tfevents.") != NULL, "file name %s", path);
    for (int s = 1; s <= 3; s++)
        CHECK_OK(NULL, ar_tb_add_scalar(w, "train/loss", s, 1.0f / (float)s));
    float values[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, NAN};
    CHECK_OK(NULL, ar_tb_add_histogram(w, "gates/layer0", 3, values, 10, 3));
    const unsigned char *png = fake_png;
    size_t png_len = sizeof fake_png;
    int width = 4, height = 3;
#ifdef ADARANK_WITH_CAIRO
    /* A real image when the charts are built, so TensorBoard itself can show it. */
    struct ar_metrics_run run;
    char fixture[1024];
    const char *data = getenv("ADARANK_TEST_DATA");
    snprintf(fixture, sizeof fixture, "%s/fixtures/run_sora/metrics.jsonl", data ? data : "tests");
    unsigned char *rendered = NULL;
    if (ar_metrics_read_file(fixture, &run, err, sizeof err) == AR_STATUS_OK) {
        width = 600, height = 400;
        CHECK_OK(NULL, ar_render_png_bytes(width, height, &run, AR_RENDER_RANKS, NULL, &rendered,
                                           &png_len, err, sizeof err));
        png = rendered;
        ar_metrics_run_clear(&run);
    }
#endif
    CHECK_OK(NULL, ar_tb_add_image(w, "ranks/heatmap", 3, png, png_len, width, height, 4));
    CHECK(ar_tb_add_image(w, "bad", 3, png, png_len, 0, 1, 4) == AR_STATUS_INVALID_ARGUMENT,
          "bad image size refused");
    CHECK(ar_tb_writer_close(w) == AR_STATUS_INVALID_ARGUMENT, "close reports the first error");
#ifdef ADARANK_WITH_CAIRO
    free(rendered);
#endif
}

static void read_events(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    static unsigned char buf[1 << 21];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t pos = 0;
    int count = 0, crc_ok = 0;
    struct event e;
    while (pos + 12 <= n) {
        uint64_t len = le(buf + pos, 8);
        crc_ok += (uint32_t)le(buf + pos + 8, 4) == masked(crc_bitwise(buf + pos, 8));
        const unsigned char *data = buf + pos + 12;
        if (pos + 16 + len > n) break;
        crc_ok += (uint32_t)le(data + len, 4) == masked(crc_bitwise(data, len));
        CHECK(decode_event(data, (size_t)len, &e), "event %d decodes", count);
        CHECK(e.wall_time > 1.6e9, "wall_time %f", e.wall_time);
        if (count == 0)
            CHECK(!strcmp(e.file_version, "brain.Event:2"), "file_version first");
        else if (count <= 3)
            CHECK(e.has_scalar && e.step == count && !strcmp(e.tag, "train/loss") &&
                      e.scalar == 1.0f / (float)count,
                  "scalar %d", count);
        else if (count == 4) {
            CHECK(e.has_histo && !strcmp(e.tag, "gates/layer0") && e.step == 3, "histogram");
            CHECK(e.hmin == 0 && e.hmax == 8 && e.hnum == 9 && e.hsum == 36 && e.hsum_sq == 204,
                  "histogram stats %g %g %g %g %g", e.hmin, e.hmax, e.hnum, e.hsum, e.hsum_sq);
            CHECK(e.n_limits == 3 && e.n_counts == 3 && fabs(e.limits[0] - 8.0 / 3) < 1e-12 &&
                      e.limits[2] == 8 && e.counts[0] == 3 && e.counts[1] == 3 && e.counts[2] == 3,
                  "buckets");
        } else if (count == 5) {
            CHECK(e.has_image && !strcmp(e.tag, "ranks/heatmap") && e.colorspace == 4 &&
                      e.width > 0 && e.height > 0 && e.png_len > 8 && !memcmp(e.png, fake_png, 8),
                  "image");
        }
        pos += 16 + len;
        count++;
    }
    CHECK(pos == n, "whole frames only (%zu of %zu bytes)", pos, n);
    CHECK(count == 6, "%d events", count);
    CHECK(crc_ok == 2 * count, "%d of %d CRCs match", crc_ok, 2 * count);
}

int main(void)
{
    /* Known answers: CRC-32C("123456789") = 0xE3069283 (RFC 3720, B.4), and an empty input. */
    CHECK(ar_crc32c(0, "123456789", 9) == 0xE3069283u, "crc32c check value");
    CHECK(ar_crc32c(ar_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u, "crc32c continues");
    CHECK(ar_crc32c(0, "", 0) == 0, "crc32c of nothing");
    const char *keep = getenv("ADARANK_TB_KEEP");
    char dir[512], path[1024] = "";
    const char *made = keep ? keep : test_tmpdir("tb"); /* removed however the test ends */
    if (!made) return 1;
    snprintf(dir, sizeof dir, "%s/events", made);
    if (keep) snprintf(dir, sizeof dir, "%s", keep);
    mkdir(dir, 0777);
    write_events(dir, path, sizeof path);
    if (*path) read_events(path);
    char err[256];
    struct ar_tb_writer *w = NULL;
    CHECK(ar_tb_writer_open("/nonexistent-dir", &w, err, sizeof err) == AR_STATUS_IO &&
              strstr(err, "/nonexistent-dir/events.out.tfevents."),
          "unwritable dir: %s", err);
    if (!keep) {
        remove(path);
        rmdir(dir);
    }
    return test_finish("tensorboard");
}
