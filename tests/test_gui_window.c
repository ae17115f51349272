/* adarank-gui in a real window under Xvfb, checked on its pixels.
 *
 * Usage: test_gui_window ADARANK_GUI   (ADARANK_TEST_DATA = tests/, xvfb-run on PATH)
 *
 * Each case starts the app on a recorded run (`--attach DIR --page P --screenshot PNG
 * --quit-after-draw --trace`); the app saves its mapped window, rendered by the window's own
 * GSK renderer, once the page has drawn. The test then decodes the PNG with cairo and checks:
 *   ranks     the heatmap rectangle (reported by --trace in window coordinates) is filled with
 *             colour-map pixels, and has exactly one band per module of the fixture: at three
 *             steps, every row's pixel has the viridis colour of that module's effective rank in
 *             the fixture (so rows are neither missing, merged nor shifted);
 *   sparsity, loss, layers   curves/bars are drawn: enough saturated pixels in the chart;
 *   dark      --dark gives a dark header bar, light a light one.
 * GSK_RENDERER=cairo: Xvfb has no GPU, and GTK 4.8's GL renderer on llvmpipe clips text when
 * rendering offscreen; the cairo renderer draws the same node tree exactly. */
#include <cairo.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test.h"

#include "adarank/render.h"

struct heat {
    double x, y, w, h;
    int rows;
    bool found;
    double draw_ms, max_gap_ms; /* of the last draw; the longest time between two frames */
    long long step;             /* the last step drawn */
    char log[4096];             /* the app's other output lines */
};

static const char *gui, *data_dir;
static char tmp_dir[256];

/* Runs the app; returns its exit status and the heat line of its trace. */
static int run_app(const char *run_dir, const char *page, const char *extra, const char *png,
                   struct heat *heat)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "GSK_RENDERER=cairo xvfb-run -a -s '-screen 0 1600x1200x24' '%s' --attach '%s' "
             "--page %s --size 1200x800 --screenshot '%s' --quit-after-draw --trace "
             "--timeout 60 %s 2>&1",
             gui, run_dir, page, png, extra ? extra : "");
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[1024];
    if (heat) heat->found = false, heat->log[0] = '\0';
    while (fgets(line, sizeof line, p)) {
        unsigned draws;
        if (heat && sscanf(line, "heat x=%lf y=%lf w=%lf h=%lf rows=%d", &heat->x, &heat->y,
                           &heat->w, &heat->h, &heat->rows) == 5)
            heat->found = true;
        else if (heat && sscanf(line, "drawn page=ranks step=%lld draws=%u ms=%lf", &heat->step,
                                &draws, &heat->draw_ms) == 3)
            continue;
        else if (heat && sscanf(line, "frames n=%u max_gap_ms=%lf", &draws, &heat->max_gap_ms) == 2)
            continue;
        else if (strncmp(line, "drawn ", 6) && strncmp(line, "frames ", 7) &&
                 strncmp(line, "heat ", 5) && line[0] != '\n' && !strstr(line, "session bus")) {
            fprintf(stderr, "  app: %s", line);
            if (heat && strlen(heat->log) + strlen(line) < sizeof heat->log)
                strcat(heat->log, line);
        }
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static cairo_surface_t *load(const char *png)
{
    cairo_surface_t *s = cairo_image_surface_create_from_png(png);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return NULL;
    }
    return s;
}

/* 8-bit RGB of pixel (x, y) (ARGB32 or RGB24, premultiplied alpha ignored: the window is
 * opaque where the checks look). */
static void pixel(cairo_surface_t *s, int x, int y, int rgb[3])
{
    const unsigned char *d = cairo_image_surface_get_data(s);
    uint32_t v = *(const uint32_t *)(d + (size_t)y * cairo_image_surface_get_stride(s) + 4 * x);
    rgb[0] = (v >> 16) & 255, rgb[1] = (v >> 8) & 255, rgb[2] = v & 255;
}

static bool saturated(const int c[3])
{
    int hi = c[0] > c[1] ? c[0] : c[1], lo = c[0] < c[1] ? c[0] : c[1];
    hi = hi > c[2] ? hi : c[2], lo = lo < c[2] ? lo : c[2];
    return hi - lo > 60;
}

/* Pixels with saturated colour in the rectangle: curves, bars, heat cells. */
static long count_saturated(cairo_surface_t *s, int x0, int y0, int x1, int y1)
{
    long n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            int c[3];
            pixel(s, x, y, c);
            n += saturated(c);
        }
    return n;
}

/* Colour match within 8 of 255 per channel: cairo's 8-bit rounding of an interpolated colour
 * map is 1-2 levels; 8 still tells apart neighbouring ranks of viridis (≥ 20 levels apart). */
static bool close_rgb(const int got[3], struct ar_rgb want)
{
    int w[3] = {(int)lround(want.r * 255), (int)lround(want.g * 255), (int)lround(want.b * 255)};
    for (int i = 0; i < 3; i++)
        if (abs(got[i] - w[i]) > 8) return false;
    return true;
}

static void test_ranks(const struct ar_metrics_run *run, const char *run_dir)
{
    char png[512];
    snprintf(png, sizeof png, "%s/ranks.png", tmp_dir);
    struct heat h;
    int rc = run_app(run_dir, "ranks", NULL, png, &h);
    CHECK(rc == 0, "adarank-gui exited with %d", rc);
    CHECK(h.found, "the trace has no heatmap layout line");
    cairo_surface_t *s = load(png);
    CHECK(s != NULL, "%s is not a PNG", png);
    if (!s || !h.found) {
        if (s) cairo_surface_destroy(s);
        return;
    }
    int W = cairo_image_surface_get_width(s), H = cairo_image_surface_get_height(s);
    CHECK(W >= 1100 && H >= 700, "window is %dx%d, asked for 1200x800", W, H);
    CHECK(h.rows == run->n_modules, "heatmap has %d rows, the run %d modules", h.rows,
          run->n_modules);
    CHECK(h.x > 0 && h.y > 40 && h.x + h.w <= W && h.y + h.h <= H, "heat rectangle inside");
    /* Non-blank: nearly all of the cells area is colour-map colour (the layer separators are
     * the only white in it). */
    long sat =
        count_saturated(s, (int)h.x + 1, (int)h.y + 1, (int)(h.x + h.w) - 1, (int)(h.y + h.h) - 1);
    double area = (h.w - 2) * (h.h - 2);
    CHECK(sat > 0.9 * area, "only %ld of %.0f heatmap pixels are coloured", sat, area);
    /* One band per module: the pixel at the centre of row r, midway between two snapshots,
     * has the colour of the module's effective rank there. */
    int max_rank = 0;
    for (int i = 0; i < run->n_modules; i++)
        max_rank = run->modules[i].rank > max_rank ? run->modules[i].rank : max_rank;
    double x0 = (double)run->snapshot_step[0], x1 = (double)run->last_step;
    size_t picks[3] = {run->n_snapshots / 4, run->n_snapshots / 2, run->n_snapshots - 2};
    int bad = 0;
    double row_h = h.h / h.rows;
    for (int k = 0; k < 3; k++) {
        size_t snap = picks[k];
        double step = 0.5 * (double)(run->snapshot_step[snap] + run->snapshot_step[snap + 1]);
        int x = (int)(h.x + (step - x0) / (x1 - x0) * h.w);
        for (int r = 0; r < h.rows && r < run->n_modules; r++) {
            int c[3];
            pixel(s, x, (int)(h.y + (r + 0.5) * row_h), c);
            int eff = run->effective[snap * run->n_modules + r];
            struct ar_rgb want = ar_colormap_eval(AR_COLORMAP_VIRIDIS, (double)eff / max_rank);
            if (!close_rgb(c, want)) {
                if (bad++ < 5)
                    fprintf(stderr, "  row %d step %.1f: pixel (%d,%d,%d), rank %d\n", r, step,
                            c[0], c[1], c[2], eff);
            }
        }
    }
    CHECK(bad == 0, "%d of %d row samples do not show the module's rank colour", bad, 3 * h.rows);
    /* Above and below the cells there is no colour-map band (rows are not cut off). */
    long above = count_saturated(s, (int)h.x, (int)h.y - 6, (int)(h.x + h.w), (int)h.y - 2);
    CHECK(above == 0, "%ld coloured pixels just above the heatmap", above);
    cairo_surface_destroy(s);
}

/* A long run written with the library's own writer: 144 modules (12 layers × 12), 100000
 * steps, a rank snapshot every 100 steps (12 MB of JSONL). */
static bool write_big_run(const char *dir)
{
    enum { MODS = 144, STEPS = 100000, EVERY = 100, R = 16 };
    static struct ar_metrics_module mods[MODS];
    static char names[MODS][64];
    for (int i = 0; i < MODS; i++) {
        snprintf(names[i], sizeof names[i], "model.layers.%d.proj_%d", i / 12, i % 12);
        mods[i] = (struct ar_metrics_module){names[i], i / 12, 1024, 1024, R};
    }
    struct ar_metrics_run_info info = {.method = "sora",
                                       .model = "synthetic",
                                       .device = "none",
                                       .modules = mods,
                                       .n_modules = MODS,
                                       .n_layers = 12};
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    struct ar_metrics_writer *w = NULL;
    if (ar_metrics_writer_open(path, &info, &w, err, sizeof err) != AR_STATUS_OK) {
        fprintf(stderr, "%s\n", err);
        return false;
    }
    static int eff[MODS], alloc[MODS];
    enum ar_status st = AR_STATUS_OK;
    for (int s = 1; s <= STEPS && st == AR_STATUS_OK; s++) {
        struct ar_metrics_step step = {s, s / 1e4, 2.0 / (1 + s / 1e4), 1e-4, 1, 9000, s * 0.05};
        st = ar_metrics_write_step(w, &step);
        if (s % EVERY == 0 && st == AR_STATUS_OK) {
            for (int i = 0; i < MODS; i++) /* module i loses a rank every (1000 + 37 i) steps */
                eff[i] = R - s / (1000 * (1 + i % 7) + 37 * i) % (R + 1), alloc[i] = R;
            struct ar_metrics_ranks r = {
                .step = s, .effective = eff, .allocated = alloc, .threshold = NAN};
            st = ar_metrics_write_ranks(w, &r);
        }
    }
    return ar_metrics_writer_close(w) == AR_STATUS_OK && st == AR_STATUS_OK;
}

/* 100+ modules and 100k steps: every module gets its row, the whole run is drawn, and a draw
 * stays cheap because the renderer resamples to pixels (its cost is reported). The first read
 * of the 12 MB runs in a worker thread; the longest gap between frames is reported too (not
 * asserted: this machine's load, not the app, dominates it). */
static void test_scale(void)
{
    char dir[512], png[512];
    snprintf(dir, sizeof dir, "%s/big", tmp_dir);
    snprintf(png, sizeof png, "%s/big.png", tmp_dir);
    mkdir(dir, 0755);
    bool written = write_big_run(dir);
    CHECK(written, "writing the large run");
    if (!written) return;
    struct heat h = {0};
    int rc = run_app(dir, "ranks", NULL, png, &h);
    CHECK(rc == 0, "large run: exit %d", rc);
    CHECK(h.found && h.rows == 144, "large run: %d rows, want 144", h.rows);
    CHECK(h.step == 100000, "large run: last step drawn %lld", h.step);
    /* 1 s: two orders of magnitude above the ~5-15 ms measured here (2 busy cores), so only a
     * draw that walks every step or every event (not the pixels) fails it. */
    CHECK(h.draw_ms > 0 && h.draw_ms < 1000, "large run: a draw took %.1f ms", h.draw_ms);
    printf("large run (144 modules, 100000 steps): draw %.1f ms, longest frame gap %.0f ms\n",
           h.draw_ms, h.max_gap_ms);
    cairo_surface_t *s = load(png);
    if (s && h.found) {
        long sat = count_saturated(s, (int)h.x + 1, (int)h.y + 1, (int)(h.x + h.w) - 1,
                                   (int)(h.y + h.h) - 1);
        CHECK(sat > 0.8 * h.w * h.h, "large run: %ld coloured heatmap pixels", sat);
    }
    if (s) cairo_surface_destroy(s);
}

/* Bad input: a malformed line is reported ("FILE:LINE: what") and the rest of the run is still
 * drawn; a folder that never gets a metrics.jsonl keeps the app waiting, and the --timeout hook
 * then fails with a message. */
static void test_bad_input(const char *good_metrics)
{
    char dir[512], path[600], png[512];
    snprintf(dir, sizeof dir, "%s/bad", tmp_dir);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    snprintf(png, sizeof png, "%s/bad.png", tmp_dir);
    mkdir(dir, 0755);
    FILE *in = fopen(good_metrics, "r"), *out = fopen(path, "w");
    CHECK(in && out, "copying %s", good_metrics);
    if (!in || !out) {
        if (in) fclose(in);
        if (out) fclose(out);
        return;
    }
    static char line[1 << 16];
    for (int n = 0; fgets(line, sizeof line, in); n++) {
        if (n == 1) fputs("{\"event\":\"step\",\"step\":\"three\"}\n", out);
        fputs(line, out);
    }
    fclose(in), fclose(out);
    struct heat h = {0};
    int rc = run_app(dir, "ranks", NULL, png, &h);
    CHECK(rc == 0, "bad line: exit %d", rc);
    CHECK(strstr(h.log, "metrics.jsonl:2:") != NULL, "bad line not reported: %s", h.log);
    CHECK(h.found && h.rows == 24 && h.step == 200, "bad line: the rest was not drawn");

    snprintf(dir, sizeof dir, "%s/never", tmp_dir);
    mkdir(dir, 0755);
    rc = run_app(dir, "ranks", "--timeout 3", png, &h);
    CHECK(rc == 1, "no metrics.jsonl: exit %d, want 1 (timeout)", rc);
    CHECK(strstr(h.log, "timeout") != NULL, "no metrics.jsonl: message: %s", h.log);
}

/* A page of curves or bars: saturated pixels below the header bar, between min and max. */
static void test_curves(const char *run_dir, const char *page, long min_pixels, long max_pixels)
{
    char png[512];
    snprintf(png, sizeof png, "%s/%s.png", tmp_dir, page);
    int rc = run_app(run_dir, page, NULL, png, NULL);
    CHECK(rc == 0, "%s: adarank-gui exited with %d", page, rc);
    cairo_surface_t *s = load(png);
    CHECK(s != NULL, "%s is not a PNG", png);
    if (!s) return;
    int W = cairo_image_surface_get_width(s), H = cairo_image_surface_get_height(s);
    long n = count_saturated(s, 0, 60, W, H - 40);
    CHECK(n > min_pixels && n < max_pixels, "%s: %ld curve pixels, want %ld to %ld", page, n,
          min_pixels, max_pixels);
    cairo_surface_destroy(s);
}

/* Luma of the header bar next to the buttons, in light and dark styles. */
static void test_styles(const char *run_dir)
{
    double luma[2];
    for (int dark = 0; dark < 2; dark++) {
        char png[512];
        snprintf(png, sizeof png, "%s/style%d.png", tmp_dir, dark);
        int rc = run_app(run_dir, "ranks", dark ? "--dark" : NULL, png, NULL);
        CHECK(rc == 0, "style %d: exit %d", dark, rc);
        cairo_surface_t *s = load(png);
        luma[dark] = -1;
        if (!s) continue;
        int c[3];
        pixel(s, 160, 24, c);
        luma[dark] = (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;
        cairo_surface_destroy(s);
    }
    CHECK(luma[0] > 0.7, "light header bar luma %.2f", luma[0]);
    CHECK(luma[1] >= 0 && luma[1] < 0.3, "dark header bar luma %.2f", luma[1]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_gui_window ADARANK_GUI\n");
        return 2;
    }
    gui = argv[1];
    data_dir = getenv("ADARANK_TEST_DATA") ? getenv("ADARANK_TEST_DATA") : "tests";
    if (system("command -v xvfb-run >/dev/null 2>&1") != 0) {
        fprintf(stderr, "xvfb-run is missing: install xvfb and xauth (./setup.sh deps)\n");
        return 1;
    }
    const char *made = test_tmpdir("gui-window"); /* removed however the test ends */
    if (!made || strlen(made) >= sizeof tmp_dir) return 1;
    snprintf(tmp_dir, sizeof tmp_dir, "%s", made);
    char sora[512], flexora[512], metrics[600], err[512];
    snprintf(sora, sizeof sora, "%s/fixtures/run_sora", data_dir);
    snprintf(flexora, sizeof flexora, "%s/gui/run_flexora", data_dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", sora);
    struct ar_metrics_run run = {0};
    enum ar_status st = ar_metrics_read_file(metrics, &run, err, sizeof err);
    CHECK(st == AR_STATUS_OK && run.n_snapshots > 4, "%s", err);
    if (st == AR_STATUS_OK && run.n_snapshots > 4) test_ranks(&run, sora);
    /* Thresholds: a drawn curve is ≥ 1 px wide over ≥ 800 px of plot; the flexora bars fill
     * far more. An empty chart (frame, grey text) has no saturated pixel at all. */
    long any = 1L << 40;
    test_curves(sora, "sparsity", 3000, any);
    test_curves(sora, "loss", 3000, any);
    test_curves(flexora, "flexora", 20000, any);
    /* The control: a SoRA run has no Flexora scores, so that page draws only its frame. */
    test_curves(sora, "flexora", -1, 200);
    test_styles(sora);
    test_scale();
    test_bad_input(metrics);
    ar_metrics_run_clear(&run);
    return test_finish("gui_window");
}
