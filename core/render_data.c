/* The data side of the charts, free of cairo so it is unit-tested as plain C: colour maps,
 * decimation to a pixel budget, axis ticks, row labels and heatmap resampling (render.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "adarank/render.h"

/* ---- colour maps --------------------------------------------------------------------------
 * Eleven evenly spaced samples (t = 0, 0.1, ..., 1) of matplotlib's viridis and magma maps
 * (van der Walt & Smith, 2015, CC0), as 8-bit sRGB. Linear interpolation between neighbouring
 * samples stays within a few 8-bit steps of the full 256-entry tables, far below what a heatmap
 * cell can show, and keeps lightness monotonic, which is the property that matters. */
static const unsigned char viridis[11][3] = {
    {68, 1, 84},    {72, 36, 117},  {65, 68, 135},  {53, 95, 141},  {42, 120, 142}, {33, 145, 140},
    {34, 168, 132}, {68, 191, 112}, {122, 209, 81}, {189, 223, 38}, {253, 231, 37},
};
static const unsigned char magma[11][3] = {
    {0, 0, 4},       {20, 14, 54},    {59, 15, 112},   {100, 26, 128},
    {140, 41, 129},  {183, 55, 121},  {222, 73, 104},  {247, 112, 92},
    {254, 159, 109}, {254, 207, 146}, {252, 253, 191},
};

struct ar_rgb ar_colormap_eval(enum ar_colormap map, double t)
{
    if (isnan(t)) return (struct ar_rgb){0.88, 0.88, 0.88};
    const unsigned char(*table)[3] = map == AR_COLORMAP_MAGMA ? magma : viridis;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double pos = t * 10.0;
    int i = (int)pos;
    if (i >= 10) i = 9;
    double f = pos - i;
    struct ar_rgb c;
    c.r = ((1 - f) * table[i][0] + f * table[i + 1][0]) / 255.0;
    c.g = ((1 - f) * table[i][1] + f * table[i + 1][1]) / 255.0;
    c.b = ((1 - f) * table[i][2] + f * table[i + 1][2]) / 255.0;
    return c;
}

static const char *const view_names[] = {"ranks", "sparsity", "flexora", "loss", "all"};

const char *ar_render_view_name(enum ar_render_view view)
{
    return (unsigned)view <= AR_RENDER_ALL ? view_names[view] : "unknown";
}

bool ar_render_view_parse(const char *name, enum ar_render_view *out)
{
    for (int i = 0; i <= AR_RENDER_ALL; i++) {
        if (name && !strcmp(name, view_names[i])) {
            *out = (enum ar_render_view)i;
            return true;
        }
    }
    return false;
}

/* ---- decimation --------------------------------------------------------------------------- */

size_t ar_render_decimate(const double *x, const double *y, size_t n, double x0, double x1,
                          int buckets, double *out_x, double *out_y)
{
    if (buckets < 1 || !(x1 >= x0)) return 0;
    size_t first = 0, last = n; /* the points inside [x0, x1] are [first, last) */
    while (first < n && x[first] < x0)
        first++;
    while (last > first && x[last - 1] > x1)
        last--;
    size_t m = 0;
    if (last - first <= 2 * (size_t)buckets) {
        for (size_t i = first; i < last; i++)
            out_x[m] = x[i], out_y[m] = y[i], m++;
        return m;
    }
    double width = x1 > x0 ? x1 - x0 : 1.0;
    size_t i = first;
    for (int b = 0; b < buckets && i < last; b++) {
        size_t lo = i, hi = i; /* indices of the min and max in this bucket */
        while (i < last) {
            int bi = (int)((x[i] - x0) / width * buckets);
            if (bi >= buckets) bi = buckets - 1;
            if (bi > b) break;
            if (y[i] < y[lo]) lo = i;
            if (y[i] > y[hi]) hi = i;
            i++;
        }
        if (i == lo) /* empty bucket */
            continue;
        size_t a = lo < hi ? lo : hi, c = lo < hi ? hi : lo;
        out_x[m] = x[a], out_y[m] = y[a], m++;
        if (c != a) out_x[m] = x[c], out_y[m] = y[c], m++;
    }
    return m;
}

/* ---- ticks -------------------------------------------------------------------------------- */

int ar_render_ticks(double lo, double hi, int max_ticks, double *ticks, int cap, double *step)
{
    if (!isfinite(lo) || !isfinite(hi) || max_ticks < 2 || cap < 1) {
        *step = 1;
        return 0;
    }
    if (hi < lo) {
        double t = lo;
        lo = hi, hi = t;
    }
    if (hi - lo < 1e-300) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad, hi += pad;
    }
    double rough = (hi - lo) / (max_ticks - 1);
    double mag = pow(10.0, floor(log10(rough)));
    double norm = rough / mag;
    double nice = norm <= 1.0 ? 1.0 : norm <= 2.0 ? 2.0 : norm <= 5.0 ? 5.0 : 10.0;
    *step = nice * mag;
    int n = 0;
    double eps = *step * 1e-9;
    for (double v = ceil((lo - eps) / *step) * *step; v <= hi + eps && n < cap; v += *step)
        ticks[n++] = fabs(v) < eps ? 0.0 : v;
    return n;
}

void ar_render_format_tick(double v, double step, char *out, size_t size)
{
    if (fabs(v) < fabs(step) * 1e-6) v = 0;
    if (step >= 100 && fabs(v) >= 1000) { /* 1k, 1.5k, 2k */
        double ks = step / 1000;
        int dec = ks >= 1 ? 0 : (int)ceil(-log10(ks) - 1e-9);
        snprintf(out, size, "%.*f", dec, v / 1000);
        size_t n = strlen(out);
        while (dec > 0 && n > 1 && out[n - 1] == '0')
            out[--n] = '\0';
        if (n > 0 && out[n - 1] == '.') out[--n] = '\0';
        if (n + 1 < size) out[n] = 'k', out[n + 1] = '\0';
    } else if (step < 1e-3) { /* small values (learning rates, thresholds): 2.5e-04 */
        if (v == 0)
            snprintf(out, size, "0");
        else
            snprintf(out, size, "%.1e", v);
    } else {
        int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
        snprintf(out, size, "%.*f", dec, v);
    }
}

/* Log ticks: a mantissa set per decade, densest first; then powers of ten every `stride`
 * decades. Perplexity falls by orders of magnitude early in training (exp of a loss near
 * ln(vocabulary) at the start), so its axis may span one decade or five. */
static const double mant_fine[] = {1, 1.5, 2, 3, 5, 7}, mant_125[] = {1, 2, 5}, mant_13[] = {1, 3};

static int log_ticks_with(double lo, double hi, const double *mant, int n_mant, int stride,
                          double *ticks, int cap)
{
    int n = 0;
    int k0 = (int)floor(log10(lo)) - 1, k1 = (int)ceil(log10(hi)) + 1;
    for (int k = k0; k <= k1; k++) {
        if (stride > 1 && k % stride != 0) continue;
        for (int j = 0; j < n_mant; j++) {
            double v = mant[j] * pow(10.0, k);
            if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
            if (n < cap) ticks[n] = v;
            n++; /* counted past cap, so a caller can tell the set is too dense */
        }
    }
    return n;
}

int ar_render_log_ticks(double lo, double hi, int max_ticks, double *ticks, int cap)
{
    if (!(lo > 0) || !isfinite(hi) || !isfinite(lo) || max_ticks < 2 || cap < 1) return 0;
    if (hi < lo) {
        double t = lo;
        lo = hi, hi = t;
    }
    struct {
        const double *mant;
        int n;
    } sets[] = {{mant_fine, 6}, {mant_125, 3}, {mant_13, 2}, {mant_125, 1}};
    int n = -1;
    for (int i = 0; i < 4 && n < 0; i++) {
        int count = log_ticks_with(lo, hi, sets[i].mant, sets[i].n, 1, ticks, cap);
        if (count <= max_ticks) n = count;
    }
    static const int strides[] = {2, 5, 10, 20, 50, 100}; /* decades between ticks */
    for (int i = 0; i < 6 && n < 0; i++) {
        int count = log_ticks_with(lo, hi, mant_125, 1, strides[i], ticks, cap);
        if (count <= max_ticks || i == 5) n = count;
    }
    if (n < 2) { /* too short a range for any mantissa: linear ticks read fine on it */
        double step;
        return ar_render_ticks(lo, hi, max_ticks, ticks, cap, &step);
    }
    return n < cap ? n : cap;
}

void ar_render_format_log_tick(double v, char *out, size_t size)
{
    if (v >= 1000 && v < 1e6)
        ar_render_format_tick(v, 100, out, size); /* 2k, 1.5k */
    else
        snprintf(out, size, "%g", v);
}

/* ---- row labels --------------------------------------------------------------------------- */

size_t ar_render_common_prefix(const char *const *names, int n)
{
    if (n < 2) return 0; /* one module: keep its whole name */
    size_t len = strlen(names[0]);
    for (int i = 1; i < n; i++) {
        size_t k = 0;
        while (k < len && names[i][k] == names[0][k])
            k++;
        len = k;
    }
    while (len > 0 && names[0][len - 1] != '.')
        len--;
    return len;
}

void ar_render_module_label(const char *name, size_t prefix_len, char *out, size_t size)
{
    const char *rest = strlen(name) > prefix_len ? name + prefix_len : name;
    size_t digits = 0;
    while (rest[digits] >= '0' && rest[digits] <= '9')
        digits++;
    if (digits > 0 && rest[digits] == '.' && rest[digits + 1])
        snprintf(out, size, "L%.*s %s", (int)digits, rest, rest + digits + 1);
    else
        snprintf(out, size, "%s", rest);
}

int ar_render_label_stride(int rows, double row_height, double min_spacing)
{
    if (rows <= 0 || row_height <= 0) return 1;
    int stride = (int)ceil(min_spacing / row_height - 1e-9);
    return stride < 1 ? 1 : stride;
}

/* ---- heatmap resampling ------------------------------------------------------------------- */

void ar_render_heat_resample(const int64_t *steps, size_t n_snap, const int *values, int rows,
                             double x0, double x1, int cols, float *out)
{
    size_t s = 0; /* the first snapshot after the current column's centre */
    for (int c = 0; c < cols; c++) {
        double centre = x1 > x0 ? x0 + (c + 0.5) * (x1 - x0) / cols : x0;
        while (s < n_snap && (double)steps[s] <= centre)
            s++;
        for (int r = 0; r < rows; r++)
            out[(size_t)r * cols + c] = s == 0 ? NAN : (float)values[(s - 1) * rows + r];
    }
}

/* ---- hit-testing -------------------------------------------------------------------------- */

bool ar_render_heat_hit(const struct ar_render_heat_layout *l, double x, double y, int *row,
                        double *step)
{
    if (l->rows < 1 || !(l->plot_w > 0) || !(l->plot_h > 0)) return false;
    if (x < l->plot_x || x >= l->plot_x + l->plot_w || y < l->plot_y || y >= l->plot_y + l->plot_h)
        return false;
    int r = (int)((y - l->plot_y) / l->plot_h * l->rows);
    *row = r < l->rows ? r : l->rows - 1; /* y just below the bottom edge after rounding */
    /* The centre of the pixel column, the step ar_render_heat_resample sampled for it, so the
     * value reported is exactly the colour shown. */
    int cols = l->cols > 0 ? l->cols : 1;
    int c = (int)((x - l->plot_x) / l->plot_w * cols);
    c = c < cols ? c : cols - 1;
    *step = l->x1 > l->x0 ? l->x0 + (c + 0.5) * (l->x1 - l->x0) / cols : l->x0;
    return true;
}

long ar_render_snapshot_at(const int64_t *steps, size_t n_snap, double step)
{
    /* Binary search for the first snapshot after `step`; the one before it is shown. */
    size_t lo = 0, hi = n_snap;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((double)steps[mid] <= step)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (long)lo - 1;
}
