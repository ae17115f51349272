/* Charts: the plain-C data logic (colour maps, decimation, ticks, labels, heatmap resampling),
 * then a recorded run (tests/fixtures/run_sora, 24 modules × 200 steps) rendered to PNG and read
 * back pixel by pixel, then the `adarank-cl heatmap` command. No device needed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adarank/render.h"
#include "test.h"

static double luminance(struct ar_rgb c)
{
    return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
}

static void test_colormap(void)
{
    struct ar_rgb a = ar_colormap_eval(AR_COLORMAP_VIRIDIS, 0),
                  b = ar_colormap_eval(AR_COLORMAP_VIRIDIS, 1);
    CHECK(fabs(a.r * 255 - 68) < 0.5 && fabs(a.g * 255 - 1) < 0.5 && fabs(a.b * 255 - 84) < 0.5,
          "viridis(0)");
    CHECK(fabs(b.r * 255 - 253) < 0.5 && fabs(b.g * 255 - 231) < 0.5, "viridis(1)");
    struct ar_rgb clamp = ar_colormap_eval(AR_COLORMAP_VIRIDIS, 7);
    CHECK(clamp.r == b.r && clamp.g == b.g, "clamped above 1");
    struct ar_rgb nan = ar_colormap_eval(AR_COLORMAP_VIRIDIS, NAN);
    CHECK(nan.r == nan.g && nan.g == nan.b && nan.r > 0.8, "NaN is light grey");
    /* Perceptual maps have lightness increasing with t: check it for both, on a fine grid. */
    for (int m = 0; m < 2; m++) {
        bool monotonic = true;
        double prev = -1;
        for (int i = 0; i <= 200; i++) {
            double l = luminance(ar_colormap_eval((enum ar_colormap)m, i / 200.0));
            monotonic = monotonic && l > prev;
            prev = l;
        }
        CHECK(monotonic, "colour map %d lightness is monotonic", m);
    }
    /* Midpoint interpolation: halfway between samples 0.5 and 0.6. */
    struct ar_rgb mid = ar_colormap_eval(AR_COLORMAP_VIRIDIS, 0.55);
    CHECK(fabs(mid.g * 255 - (145 + 168) / 2.0) < 0.01, "interpolated green %.3f", mid.g * 255);
}

static void test_decimate(void)
{
    enum { N = 10000, B = 100 };
    static double x[N], y[N], ox[2 * B], oy[2 * B];
    for (int i = 0; i < N; i++)
        x[i] = i, y[i] = sin(i * 0.01);
    y[5003] = 50, y[7777] = -40; /* spikes must survive */
    size_t m = ar_render_decimate(x, y, N, 0, N - 1, B, ox, oy);
    CHECK(m <= 2 * B && m >= B, "count %zu", m);
    bool has_max = false, has_min = false, sorted = true;
    for (size_t i = 0; i < m; i++) {
        has_max = has_max || oy[i] == 50;
        has_min = has_min || oy[i] == -40;
        sorted = sorted && (i == 0 || ox[i] > ox[i - 1]);
    }
    CHECK(has_max && has_min, "spikes kept");
    CHECK(sorted, "x order kept");
    /* Short series are copied; points outside the range are dropped. */
    double sx[5] = {0, 1, 2, 3, 4}, sy[5] = {5, 6, 7, 8, 9};
    m = ar_render_decimate(sx, sy, 5, 1, 3, B, ox, oy);
    CHECK(m == 3 && ox[0] == 1 && oy[2] == 8, "clipped copy (%zu)", m);
    CHECK(ar_render_decimate(sx, sy, 5, 3, 1, B, ox, oy) == 0, "empty range");
}

static void test_ticks(void)
{
    double t[32], step;
    int n = ar_render_ticks(0, 200, 11, t, 32, &step);
    CHECK(n == 11 && step == 20 && t[10] == 200, "0..200: %d ticks, step %g", n, step);
    n = ar_render_ticks(0.13, 0.92, 6, t, 32, &step);
    CHECK(step == 0.2 && n == 4 && fabs(t[0] - 0.2) < 1e-12, "0.13..0.92: %d, step %g", n, step);
    n = ar_render_ticks(5, 5, 5, t, 32, &step);
    CHECK(n >= 2, "degenerate range widened");
    char s[32];
    ar_render_format_tick(0.25, 0.05, s, sizeof s);
    CHECK(!strcmp(s, "0.25"), "%s", s);
    ar_render_format_tick(1500, 500, s, sizeof s);
    CHECK(!strcmp(s, "1.5k"), "%s", s);
    ar_render_format_tick(2000, 500, s, sizeof s);
    CHECK(!strcmp(s, "2k"), "%s", s);
    ar_render_format_tick(2.5e-4, 5e-5, s, sizeof s);
    CHECK(!strcmp(s, "2.5e-04"), "%s", s);
    ar_render_format_tick(3e-17, 0.1, s, sizeof s);
    CHECK(!strcmp(s, "0.0"), "rounding noise is zero: %s", s);
}

static void test_log_ticks(void)
{
    double t[64];
    /* Five decades: one tick per power of ten. */
    int n = ar_render_log_ticks(3, 40000, 6, t, 64);
    CHECK(n == 4 && t[0] == 10 && t[3] == 10000, "3..4e4: %d ticks, %g..%g", n, t[0],
          n ? t[n - 1] : 0);
    /* One decade, room for many: 1-1.5-2-3-5-7. */
    n = ar_render_log_ticks(1.2, 12, 8, t, 64);
    CHECK(n == 6 && t[0] == 1.5 && t[5] == 10, "1.2..12: %d ticks", n);
    /* The same with room for three: 1-2-5 would give 2, 5, 10. */
    n = ar_render_log_ticks(1.2, 12, 3, t, 64);
    CHECK(n == 3 && t[0] == 2 && t[1] == 5 && t[2] == 10, "1.2..12 (3): %d ticks", n);
    /* Twelve decades into three ticks: every 5th power of ten. */
    n = ar_render_log_ticks(1, 1e12, 3, t, 64);
    CHECK(n == 3 && t[1] == 1e5 && t[2] == 1e10, "1..1e12: %d ticks", n);
    /* Narrower than one mantissa step: linear ticks, still at least two, all in range. */
    n = ar_render_log_ticks(30.2, 30.9, 5, t, 64);
    CHECK(n >= 2 && t[0] >= 30.2 && t[n - 1] <= 30.9, "30.2..30.9: %d ticks", n);
    CHECK(ar_render_log_ticks(0, 10, 5, t, 64) == 0, "no log axis through 0");
    char s[32];
    ar_render_format_log_tick(1.5, s, sizeof s);
    CHECK(!strcmp(s, "1.5"), "%s", s);
    ar_render_format_log_tick(20000, s, sizeof s);
    CHECK(!strcmp(s, "20k"), "%s", s);
    ar_render_format_log_tick(1500, s, sizeof s);
    CHECK(!strcmp(s, "1.5k"), "%s", s);
    ar_render_format_log_tick(1e7, s, sizeof s);
    CHECK(!strcmp(s, "1e+07"), "%s", s);
}

static void test_labels(void)
{
    const char *names[3] = {"bert.encoder.layer.0.attention.self.query",
                            "bert.encoder.layer.1.attention.self.query",
                            "bert.encoder.layer.11.output.dense"};
    size_t p = ar_render_common_prefix(names, 3);
    CHECK(p == strlen("bert.encoder.layer."), "prefix %zu", p);
    char label[128];
    ar_render_module_label(names[2], p, label, sizeof label);
    CHECK(!strcmp(label, "L11 output.dense"), "%s", label);
    ar_render_module_label("classifier", 0, label, sizeof label);
    CHECK(!strcmp(label, "classifier"), "%s", label);
    CHECK(ar_render_common_prefix(names, 1) == 0, "one name keeps its prefix");
    CHECK(ar_render_label_stride(300, 2.0, 12) == 6, "stride %d",
          ar_render_label_stride(300, 2, 12));
    CHECK(ar_render_label_stride(24, 30.0, 12) == 1, "no thinning");
}

static void test_resample(void)
{
    int64_t steps[3] = {10, 20, 40};
    int values[3 * 2] = {8, 8, 6, 7, 2, 5}; /* (snapshot, row) */
    float out[2 * 8];
    ar_render_heat_resample(steps, 3, values, 2, 0, 40, 8, out); /* columns centred at 2.5, 7.5.. */
    CHECK(isnan(out[0]) && isnan(out[1]), "before the first snapshot");
    CHECK(out[2] == 8 && out[3] == 8 && out[4] == 6 && out[7] == 6, "row 0 holds: %g %g %g %g",
          out[2], out[3], out[4], out[7]);
    CHECK(out[8 + 5] == 7 && out[8 + 7] == 7, "row 1");
    ar_render_heat_resample(steps, 3, values, 2, 40, 40, 4, out);
    CHECK(out[0] == 2 && out[4] == 5, "a single step shows the last snapshot");
}

/* ---- a recorded run, drawn and read back ------------------------------------------------- */

static uint32_t pixel(cairo_surface_t *s, double x, double y)
{
    unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    return *(uint32_t *)(data + (int)y * stride + 4 * (int)x) & 0xFFFFFF;
}

static double colour_distance(uint32_t p, struct ar_rgb c)
{
    double r = ((p >> 16) & 255) - c.r * 255, g = ((p >> 8) & 255) - c.g * 255,
           b = (p & 255) - c.b * 255;
    return sqrt(r * r + g * g + b * b);
}

/* The rank whose colour is nearest to the pixel (the colour map is injective enough for 0..8). */
static int decode_rank(uint32_t p, int max_rank, double *dist)
{
    int best = -1;
    *dist = 1e9;
    for (int v = 0; v <= max_rank; v++) {
        double d = colour_distance(p, ar_colormap_eval(AR_COLORMAP_VIRIDIS, (double)v / max_rank));
        if (d < *dist) *dist = d, best = v;
    }
    return best;
}

static void check_heatmap_pixels(cairo_surface_t *png, const struct ar_metrics_run *run,
                                 const struct ar_render_heat_layout *l)
{
    CHECK(l->rows == 24 && l->max_rank == 8 && l->label_stride == 1, "layout rows %d max %d",
          l->rows, l->max_rank);
    /* The last column shows the final snapshot: decode every row's colour back to its rank. */
    const int *last = run->effective + (run->n_snapshots - 1) * run->n_modules;
    int wrong = 0, bands = 0, expected_bands = 0;
    uint32_t prev = 0xFFFFFFFF;
    for (int r = 0; r < l->rows; r++) {
        double y = l->plot_y + (r + 0.5) * l->plot_h / l->rows, d;
        uint32_t p = pixel(png, l->plot_x + l->plot_w - 3, y);
        int v = decode_rank(p, l->max_rank, &d);
        if (v != last[r] || d > 3)
            wrong++, fprintf(stderr, "row %d: pixel %06x decodes to %d (dist %.1f), want %d\n", r,
                             p, v, d, last[r]);
        bands += p != prev;
        expected_bands += r == 0 || last[r] != last[r - 1];
        prev = p;
    }
    CHECK(wrong == 0, "%d rows with the wrong colour", wrong);
    CHECK(bands == expected_bands && bands > 5, "%d row bands, expected %d", bands, expected_bands);
    /* Not blank: many distinct colours inside the cells, and the first column is all rank 8. */
    int distinct = 0;
    uint32_t seen[64];
    for (int i = 0; i < 400; i++) {
        uint32_t p = pixel(png, l->plot_x + (i % 20) * l->plot_w / 20 + 1,
                           l->plot_y + (i / 20) * l->plot_h / 20 + 1);
        bool known = false;
        for (int k = 0; k < distinct; k++)
            known = known || seen[k] == p;
        if (!known && distinct < 64) seen[distinct++] = p;
    }
    CHECK(distinct >= 6, "only %d distinct colours in the heatmap", distinct);
    double d;
    CHECK(decode_rank(pixel(png, l->plot_x + 2, l->plot_y + 5), 8, &d) == 8 && d < 3,
          "rank 8 at the start");
    /* The colour bar: one block per rank, rank 0 at the bottom. */
    int bar_ok = 0;
    for (int v = 0; v <= l->max_rank; v++) {
        double y = l->bar_y + (l->max_rank - v + 0.5) * l->bar_h / (l->max_rank + 1);
        bar_ok +=
            decode_rank(pixel(png, l->bar_x + l->bar_w / 2, y), l->max_rank, &d) == v && d < 3;
    }
    CHECK(bar_ok == l->max_rank + 1, "colour bar blocks %d of %d", bar_ok, l->max_rank + 1);
    /* Text: dark pixels in the title line and in the row-label column. */
    int dark_title = 0, dark_labels = 0;
    for (int x = 0; x < 400; x++)
        for (int y = 8; y < 28; y++)
            dark_title += (pixel(png, x, y) & 0xFF) < 80;
    for (int x = 0; x < (int)l->plot_x - 4; x++)
        for (int y = (int)l->plot_y; y < (int)(l->plot_y + l->plot_h); y += 2)
            dark_labels += (pixel(png, x, y) & 0xFF) < 120;
    CHECK(dark_title > 200 && dark_labels > 500, "text drawn (%d, %d)", dark_title, dark_labels);
}

static void tmp_path(char *out, size_t size, const char *name)
{
    static const char *dir; /* test_tmpdir: removed however the test ends */
    if (!dir && !(dir = test_tmpdir("render")))
        exit(1);
    snprintf(out, size, "%s/%s", dir, name);
}

static void test_recorded_run(const char *fixture_dir)
{
    char path[2048], png_path[1024], err[1024];
    snprintf(path, sizeof path, "%s/metrics.jsonl", fixture_dir);
    struct ar_metrics_run run;
    enum ar_status st = ar_metrics_read_file(path, &run, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "fixture: %s", err);
    if (st != AR_STATUS_OK) return;
    CHECK(run.n_modules == 24 && run.last_step == 200 && run.n_snapshots == 41 && run.ended,
          "fixture shape: %d modules, step %lld, %zu snapshots", run.n_modules,
          (long long)run.last_step, run.n_snapshots);
    tmp_path(png_path, sizeof png_path, "ranks.png");
    st = ar_render_png(png_path, 1200, 800, &run, AR_RENDER_RANKS, NULL, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "png: %s", err);
    /* The layout of the same drawing, from a scratch surface of the same size. */
    cairo_surface_t *scratch = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1200, 800);
    cairo_t *cr = cairo_create(scratch);
    struct ar_render_heat_layout layout;
    CHECK(ar_render_heatmap(cr, 1200, 800, &run, NULL, &layout) == AR_STATUS_OK, "heatmap");
    cairo_destroy(cr);
    cairo_surface_destroy(scratch);
    cairo_surface_t *png = cairo_image_surface_create_from_png(png_path);
    CHECK(cairo_surface_status(png) == CAIRO_STATUS_SUCCESS &&
              cairo_image_surface_get_width(png) == 1200 &&
              cairo_image_surface_get_height(png) == 800,
          "read back");
    if (cairo_surface_status(png) == CAIRO_STATUS_SUCCESS) check_heatmap_pixels(png, &run, &layout);
    cairo_surface_destroy(png);
    remove(png_path);
    /* Every other view draws without error, at a small size too. */
    for (int v = AR_RENDER_SPARSITY; v <= AR_RENDER_ALL; v++) {
        tmp_path(png_path, sizeof png_path, "view.png");
        st = ar_render_png(png_path, v == AR_RENDER_ALL ? 900 : 320, 240, &run,
                           (enum ar_render_view)v, NULL, err, sizeof err);
        CHECK(st == AR_STATUS_OK, "view %s: %s", ar_render_view_name(v), err);
        remove(png_path);
    }
    /* Errors: a directory that does not exist, an absurd size. */
    st = ar_render_png("/nonexistent-dir/x.png", 100, 100, &run, AR_RENDER_RANKS, NULL, err,
                       sizeof err);
    CHECK(st == AR_STATUS_IO && strstr(err, "/nonexistent-dir/x.png"), "io error: %s", err);
    st = ar_render_png(png_path, 5, 100000, &run, AR_RENDER_RANKS, NULL, err, sizeof err);
    CHECK(st == AR_STATUS_INVALID_ARGUMENT, "size check");
    ar_metrics_run_clear(&run);

    /* An empty run (only run_start) draws its "no data" notes. */
    struct ar_metrics_run empty = {0};
    const char *line = "{\"event\":\"run_start\",\"schema\":1,\"modules\":[]}";
    CHECK(ar_metrics_run_parse_line(&empty, line, strlen(line), "x:1", err, sizeof err) ==
              AR_STATUS_OK,
          "%s", err);
    tmp_path(png_path, sizeof png_path, "empty.png");
    CHECK(ar_render_png(png_path, 600, 400, &empty, AR_RENDER_ALL, NULL, err, sizeof err) ==
              AR_STATUS_OK,
          "empty run: %s", err);
    remove(png_path);
    ar_metrics_run_clear(&empty);
}

/* ---- the eval panel: classification metrics or perplexity -------------------------------
 * The loss view's eval panel fills the lower 42 % of the plot area under the header
 * (render_curves.c): at the default 1100 × 650, rows 66-90 % of the height lie inside it (its
 * legend and the loss panel's axis labels lie above). Its "no evaluations yet" note is centred
 * in it, in grey (0.55, 0.55, 0.58): at 12 px about 45 pixels of the box around the centre are
 * within 12 of that grey, and nothing else drawn there is grey. Series thresholds are well under
 * the counts drawn (300-950 per series) and far above 0. */

struct panel_pixels {
    int train, accuracy, validation, test, note;
};

/* Pixels within a few 8-bit steps of colour c: line interiors, markers (anti-aliased edges
 * blend with the white background and are not counted). */
static int count_near(cairo_surface_t *png, struct ar_rgb c, int x0, int y0, int x1, int y1,
                      double max_dist)
{
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            n += colour_distance(pixel(png, x, y), c) < max_dist;
    return n;
}

static struct panel_pixels read_panel(const char *png_path)
{
    struct panel_pixels p = {-1, -1, -1, -1, -1};
    cairo_surface_t *png = cairo_image_surface_create_from_png(png_path);
    CHECK(cairo_surface_status(png) == CAIRO_STATUS_SUCCESS, "read back %s", png_path);
    if (cairo_surface_status(png) == CAIRO_STATUS_SUCCESS) {
        int w = cairo_image_surface_get_width(png), h = cairo_image_surface_get_height(png);
        int y0 = (int)(h * 0.66), y1 = (int)(h * 0.9);
        p.train = count_near(png, ar_render_palette(0), 75, y0, w, y1, 30);
        p.accuracy = count_near(png, ar_render_palette(1), 75, y0, w, y1, 30);
        p.validation = count_near(png, ar_render_palette(2), 75, y0, w, y1, 30);
        p.test = count_near(png, ar_render_palette(3), 75, y0, w, y1, 30);
        struct ar_rgb grey = {0.55, 0.55, 0.58};
        p.note = count_near(png, grey, (int)(w * 0.3), (int)(h * 0.74), (int)(w * 0.7),
                            (int)(h * 0.82), 12);
    }
    cairo_surface_destroy(png);
    return p;
}

/* A causal-LM run's metrics.jsonl (the records metrics_write.c writes for one: accuracy, F1 and
 * MCC null, perplexity = exp(loss)): 60 steps, evaluations on validation and test every 20.
 * With evals = false, only the run_start (task causal-lm) and the steps. */
static void write_lm_run(const char *path, bool evals)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "create %s", path);
    if (!f) return;
    fprintf(f, "{\"event\":\"run_start\",\"schema\":1,\"method\":\"lora\",\"model\":\"gpt2_tiny\","
               "\"config\":{\"task\":\"causal-lm\"},\"modules\":[{\"name\":\"h.0.attn.c_attn\","
               "\"layer\":0,\"in\":32,\"out\":96,\"rank\":4}],\"layers\":1}\n");
    for (int step = 1; step <= 60; step++) {
        double loss = 1.5 + 8 * exp(-step / 12.0) + 0.1 * sin(step); /* from ~ln(vocab) */
        fprintf(f, "{\"event\":\"step\",\"step\":%d,\"loss\":%.6f,\"lr\":1e-4}\n", step, loss);
        for (int k = 0; evals && step % 20 == 0 && k < 2; k++) {
            double l = 1.8 + 0.6 * k + 8 * exp(-step / 12.0);
            fprintf(f,
                    "{\"event\":\"eval\",\"step\":%d,\"split\":\"%s\",\"loss\":%.6f,"
                    "\"accuracy\":null,\"f1\":null,\"mcc\":null,\"perplexity\":%.6f}\n",
                    step, k ? "test" : "validation", l, exp(l));
        }
    }
    fclose(f);
}

static struct panel_pixels render_loss_view(const struct ar_metrics_run *run, const char *name)
{
    char png_path[1024], err[1024];
    tmp_path(png_path, sizeof png_path, name);
    enum ar_status st =
        ar_render_png(png_path, 1100, 650, run, AR_RENDER_LOSS, NULL, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "loss view: %s", err);
    struct panel_pixels p = read_panel(png_path);
    remove(png_path);
    return p;
}

static void test_eval_panel(const char *fixture_dir)
{
    char path[2048], err[1024];
    struct ar_metrics_run run;
    /* Classification (the SoRA fixture): accuracy, F1 and MCC as before, no perplexity. */
    snprintf(path, sizeof path, "%s/metrics.jsonl", fixture_dir);
    CHECK(ar_metrics_read_file(path, &run, err, sizeof err) == AR_STATUS_OK, "fixture: %s", err);
    CHECK(!ar_render_run_is_lm(&run), "SoRA classification run is not LM");
    struct panel_pixels p = render_loss_view(&run, "cls.png");
    CHECK(p.accuracy > 300 && p.validation > 300 && p.test > 300 && p.train == 0 && p.note == 0,
          "classification panel: accuracy %d, F1 %d, MCC %d, train %d, note %d pixels", p.accuracy,
          p.validation, p.test, p.train, p.note);
    ar_metrics_run_clear(&run);

    /* An LM run: validation (palette 2) and test (palette 3) perplexity and the training curve
     * (palette 0), no accuracy and no "no evaluations yet". */
    tmp_path(path, sizeof path, "lm.jsonl");
    write_lm_run(path, true);
    CHECK(ar_metrics_read_file(path, &run, err, sizeof err) == AR_STATUS_OK, "LM run: %s", err);
    CHECK(ar_render_run_is_lm(&run) && run.n_splits == 2 && run.splits[0].perplexity.count == 3,
          "LM run read: %zu splits", run.n_splits);
    p = render_loss_view(&run, "lm.png");
    CHECK(p.validation > 150 && p.test > 200 && p.train > 200 && p.accuracy == 0 && p.note == 0,
          "LM panel: validation %d, test %d, train %d, accuracy %d, note %d pixels", p.validation,
          p.test, p.train, p.accuracy, p.note);
    ar_metrics_run_clear(&run);

    /* Before its first evaluation: the note, and the training perplexity already. */
    write_lm_run(path, false);
    CHECK(ar_metrics_read_file(path, &run, err, sizeof err) == AR_STATUS_OK, "LM run: %s", err);
    CHECK(ar_render_run_is_lm(&run), "task causal-lm in the config: LM before any eval");
    p = render_loss_view(&run, "lm0.png");
    CHECK(p.note > 25 && p.validation == 0 && p.train > 200,
          "LM panel before evals: note %d, validation %d, train %d pixels", p.note, p.validation,
          p.train);
    ar_metrics_run_clear(&run);
    remove(path);
}

/* ---- the command line ------------------------------------------------------------------- */

static int run_cli(const char *cli, const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null >/dev/null", cli, args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli(const char *cli, const char *fixture_dir)
{
    char png_path[1024], args[3072];
    tmp_path(png_path, sizeof png_path, "cli.png");
    snprintf(args, sizeof args, "heatmap '%s' -o '%s' --view all --size 900x600", fixture_dir,
             png_path);
    CHECK(run_cli(cli, args) == 0, "heatmap command");
    FILE *f = fopen(png_path, "rb");
    unsigned char head[24] = {0};
    CHECK(f && fread(head, 1, 24, f) == 24, "PNG written");
    if (f) fclose(f);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    unsigned w = (unsigned)head[16] << 24 | head[17] << 16 | head[18] << 8 | head[19];
    unsigned h = (unsigned)head[20] << 24 | head[21] << 16 | head[22] << 8 | head[23];
    CHECK(!memcmp(head, sig, 8) && !memcmp(head + 12, "IHDR", 4), "PNG signature and IHDR");
    CHECK(w == 900 && h == 600, "PNG size %u x %u", w, h);
    remove(png_path);
    /* An LM run's directory: the exported loss view shows perplexity in its eval panel. */
    char lm_path[1024];
    tmp_path(lm_path, sizeof lm_path, "lm_cli.jsonl");
    write_lm_run(lm_path, true);
    tmp_path(png_path, sizeof png_path, "lm_cli.png");
    snprintf(args, sizeof args, "heatmap '%s' -o '%s' --view loss --size 1100x650", lm_path,
             png_path);
    CHECK(run_cli(cli, args) == 0, "heatmap --view loss on an LM run");
    struct panel_pixels p = read_panel(png_path);
    CHECK(p.validation > 150 && p.test > 200 && p.accuracy == 0 && p.note == 0,
          "exported LM panel: validation %d, test %d, accuracy %d, note %d pixels", p.validation,
          p.test, p.accuracy, p.note);
    remove(png_path);
    remove(lm_path);
    CHECK(run_cli(cli, "heatmap /nonexistent-run-dir") == 3, "missing run: exit 3");
    snprintf(args, sizeof args, "heatmap '%s' --view bogus", fixture_dir);
    CHECK(run_cli(cli, args) == 2, "bad view: exit 2");
}

int main(void)
{
    test_colormap();
    test_decimate();
    test_ticks();
    test_log_ticks();
    test_labels();
    test_resample();
    const char *data = getenv("ADARANK_TEST_DATA");
    char fixture[1024];
    snprintf(fixture, sizeof fixture, "%s/fixtures/run_sora", data ? data : "tests");
    test_recorded_run(fixture);
    test_eval_panel(fixture);
    const char *cli = getenv("ADARANK_CLI");
    if (cli)
        test_cli(cli, fixture);
    else
        fprintf(stderr, "ADARANK_CLI unset: the command-line checks did not run\n");
    return test_finish("render");
}
