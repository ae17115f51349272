/* The gated LoRA layer in plain C and double precision, and a harness that runs the device layer
 * on the same data with every tensor at an odd offset inside one shared buffer, surrounded by
 * guard values that must survive. Shared by test_lora.c and test_lora_grad.c. */
#ifndef ADARANK_TEST_LORA_REF_H
#define ADARANK_TEST_LORA_REF_H

#include <stdint.h>

#include "test.h"

struct lora_case {
    const char *name;
    int n_max, n, in, out, groups, rank;
    bool plain, bias, mask, dgate, dx_accumulate;
    float scale, dropout;
    bool training;
    uint64_t seed, step;
};

/* Host tensors (float, what the device gets); shapes as in lora.h with N = n rows. */
struct lora_data {
    float *x;                     /* (n, in) */
    float *w;                     /* (G·out, in) */
    float *bias;                  /* (G·out) */
    float *a;                     /* (G·R, in) */
    float *b;                     /* (G, out, R) */
    float *gate;                  /* (G·R) */
    float *mask;                  /* (G·R) */
    float *dy;                    /* (n, G·out) */
    float *dx0, *da0, *db0, *dg0; /* initial gradient contents (accumulation is tested) */
};

static inline size_t lc_x(const struct lora_case *c)
{
    return (size_t)c->n * c->in;
}
static inline size_t lc_w(const struct lora_case *c)
{
    return (size_t)c->groups * c->out * c->in;
}
static inline size_t lc_y(const struct lora_case *c)
{
    return (size_t)c->n * c->groups * c->out;
}
static inline size_t lc_a(const struct lora_case *c)
{
    return (size_t)c->groups * c->rank * c->in;
}
static inline size_t lc_b(const struct lora_case *c)
{
    return (size_t)c->groups * c->out * c->rank;
}
static inline size_t lc_g(const struct lora_case *c)
{
    return (size_t)c->groups * c->rank;
}

/* ---- the dropout mask, replicated from cl/prelude.cl and cl/lora.cl ----------------------- */

static inline uint32_t ref_hash(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static inline bool ref_keep(uint64_t seed, uint64_t step, uint32_t member, uint32_t index, float p)
{
    uint32_t stream = ref_hash((uint32_t)step ^ ref_hash((uint32_t)(step >> 32))) + member;
    uint32_t h = ref_hash((uint32_t)seed ^
                          ref_hash((uint32_t)(seed >> 32) ^ ref_hash(stream ^ ref_hash(index))));
    float u = (float)(h >> 8) * (1.0f / 16777216.0f);
    return u >= p;
}

/* X̃_k[i] as a double: X·keep/(1 − p), or X when no dropout is active. */
static inline double ref_xd(const struct lora_case *c, const double *x, int k, size_t index)
{
    if (!(c->training && c->dropout > 0.0f)) return x[index];
    float p = c->dropout;
    return ref_keep(c->seed, c->step, (uint32_t)k, (uint32_t)index, p) ? x[index] / (1.0 - p) : 0.0;
}

/* The gate factor of column j: s·g·m, or s in plain mode. */
static inline double ref_gsm(const struct lora_case *c, const double *gate, const double *mask,
                             size_t j)
{
    if (c->plain) return c->scale;
    return (double)c->scale * gate[j] * (c->mask ? mask[j] : 1.0);
}

/* Y (n, G·out) in double, from double copies of every input (so finite differences can perturb
 * them). u_out (n, G·R) may be NULL. */
static inline void ref_forward(const struct lora_case *c, const double *x, const double *w,
                               const double *bias, const double *a, const double *b,
                               const double *gate, const double *mask, double *y, double *u_out)
{
    int n = c->n, in = c->in, out = c->out, G = c->groups, R = c->rank, cols = G * out;
    for (int r = 0; r < n; r++) {
        for (int o = 0; o < cols; o++) {
            double sum = c->bias ? bias[o] : 0.0;
            for (int i = 0; i < in; i++)
                sum += x[(size_t)r * in + i] * w[(size_t)o * in + i];
            y[(size_t)r * cols + o] = sum;
        }
        for (int k = 0; k < G; k++) {
            for (int j = 0; j < R; j++) {
                double u = 0.0;
                for (int i = 0; i < in; i++)
                    u += ref_xd(c, x, k, (size_t)r * in + i) * a[(size_t)(k * R + j) * in + i];
                if (u_out) u_out[(size_t)r * G * R + k * R + j] = u;
                double v = u * ref_gsm(c, gate, mask, (size_t)(k * R + j));
                for (int o = 0; o < out; o++)
                    y[(size_t)r * cols + k * out + o] += v * b[((size_t)k * out + o) * R + j];
            }
        }
    }
}

/* Gradients of L = Σ Y⊙dY (not accumulated: the caller adds the initial contents). */
static inline void ref_backward(const struct lora_case *c, const double *x, const double *w,
                                const double *a, const double *b, const double *gate,
                                const double *mask, const double *dy, double *dx, double *da,
                                double *db, double *dg)
{
    int n = c->n, in = c->in, out = c->out, G = c->groups, R = c->rank, cols = G * out;
    double *u = calloc((size_t)n * G * R + 1, sizeof *u);
    double *dummy = calloc((size_t)n * cols + 1, sizeof *dummy);
    struct lora_case no_bias = *c;
    no_bias.bias = false;
    ref_forward(&no_bias, x, w, NULL, a, b, gate, mask, dummy, u);
    memset(dx, 0, lc_x(c) * sizeof *dx);
    memset(da, 0, lc_a(c) * sizeof *da);
    memset(db, 0, lc_b(c) * sizeof *db);
    memset(dg, 0, lc_g(c) * sizeof *dg);
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < in; i++) {
            double s = 0.0;
            for (int o = 0; o < cols; o++)
                s += dy[(size_t)r * cols + o] * w[(size_t)o * in + i];
            dx[(size_t)r * in + i] = s;
        }
        for (int k = 0; k < G; k++) {
            for (int j = 0; j < R; j++) {
                size_t col = (size_t)k * R + j;
                double uj = u[(size_t)r * G * R + col], gsm = ref_gsm(c, gate, mask, col);
                double dv = 0.0; /* ∂L/∂(u·gsm) */
                for (int o = 0; o < out; o++) {
                    double d = dy[(size_t)r * cols + k * out + o];
                    dv += d * b[((size_t)k * out + o) * R + j];
                    db[((size_t)k * out + o) * R + j] += d * uj * gsm;
                }
                if (!c->plain) dg[col] += dv * uj * c->scale * (c->mask ? mask[col] : 1.0);
                double du = dv * gsm;
                for (int i = 0; i < in; i++) {
                    size_t e = (size_t)r * in + i;
                    da[col * in + i] += du * ref_xd(c, x, k, e);
                    /* ∂X̃_k/∂X = keep_k/(1 − p) */
                    double dxd =
                        c->training && c->dropout > 0.0f
                            ? (ref_keep(c->seed, c->step, (uint32_t)k, (uint32_t)e, c->dropout)
                                   ? 1.0 / (1.0 - c->dropout)
                                   : 0.0)
                            : 1.0;
                    dx[e] += du * a[col * in + i] * dxd;
                }
            }
        }
    }
    free(u);
    free(dummy);
}

static inline double *ref_to_double(const float *f, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = f ? f[i] : 0.0;
    return d;
}

/* ---- data and the device run -------------------------------------------------------------- */

static inline float *lora_random(size_t n, unsigned long long *state, float lo, float hi)
{
    float *f = malloc((n ? n : 1) * sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = lo + (hi - lo) * 0.5f * (test_uniform(state) + 1.0f);
    return f;
}

static inline struct lora_data lora_make_data(const struct lora_case *c, unsigned long long seed)
{
    unsigned long long st = seed;
    struct lora_data d;
    d.x = lora_random(lc_x(c), &st, -1, 1);
    d.w = lora_random(lc_w(c), &st, -1, 1);
    d.bias = lora_random((size_t)c->groups * c->out, &st, -1, 1);
    d.a = lora_random(lc_a(c), &st, -1, 1);
    d.b = lora_random(lc_b(c), &st, -1, 1);
    d.gate = lora_random(lc_g(c), &st, -1.5f, 1.5f);
    d.mask = lora_random(lc_g(c), &st, 0, 1);
    for (size_t j = 0; j < lc_g(c); j++)
        d.mask[j] = j % 3 == 1 ? 0.0f : 1.0f; /* some ranks switched off */
    d.dy = lora_random(lc_y(c), &st, -1, 1);
    d.dx0 = lora_random(lc_x(c), &st, -1, 1);
    d.da0 = lora_random(lc_a(c), &st, -1, 1);
    d.db0 = lora_random(lc_b(c), &st, -1, 1);
    d.dg0 = lora_random(lc_g(c), &st, -1, 1);
    return d;
}

static inline void lora_free_data(struct lora_data *d)
{
    float **all[] = {&d->x,    &d->w,  &d->bias, &d->a,   &d->b,   &d->gate,
                     &d->mask, &d->dy, &d->dx0,  &d->da0, &d->db0, &d->dg0};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}

/* What the device produced, read back from the shared buffer. */
struct lora_result {
    float *y, *dx, *da, *db, *dg;
    int guards_broken; /* floats outside the outputs that changed */
    enum ar_status forward_status, backward_status;
};

enum { LORA_GUARD_GAP = 5, LORA_FIRST_OFFSET = 3 };
#define LORA_GUARD 777.25f

struct lora_slot {
    const float *src; /* initial contents */
    size_t count, off;
    bool written; /* an output: excluded from the guard check */
};

static inline size_t lora_place(struct lora_slot *s, size_t *cursor)
{
    s->off = *cursor;
    *cursor += s->count + LORA_GUARD_GAP; /* odd offsets, and a gap of guards after each */
    return s->off;
}

/* Runs forward then backward of case c on data d, all tensors in one buffer. */
static inline struct lora_result lora_run_device(struct ar_ctx *ctx, const struct lora_case *c,
                                                 const struct lora_data *d)
{
    enum { X, W, BIAS, A, B, GATE, MASK, DY, Y, DX, DA, DB, DG, SLOTS };
    size_t cols = (size_t)c->groups * c->out;
    struct lora_slot s[SLOTS] = {
        [X] = {d->x, lc_x(c)},          [W] = {d->w, lc_w(c)},
        [BIAS] = {d->bias, cols},       [A] = {d->a, lc_a(c)},
        [B] = {d->b, lc_b(c)},          [GATE] = {d->gate, lc_g(c)},
        [MASK] = {d->mask, lc_g(c)},    [DY] = {d->dy, lc_y(c)},
        [Y] = {NULL, lc_y(c), 0, 1},    [DX] = {d->dx0, lc_x(c), 0, 1},
        [DA] = {d->da0, lc_a(c), 0, 1}, [DB] = {d->db0, lc_b(c), 0, 1},
        [DG] = {d->dg0, lc_g(c), 0, 1},
    };
    size_t total = LORA_FIRST_OFFSET;
    for (int i = 0; i < SLOTS; i++)
        lora_place(&s[i], &total);
    float *host = malloc(total * sizeof *host);
    for (size_t i = 0; i < total; i++)
        host[i] = LORA_GUARD;
    for (int i = 0; i < SLOTS; i++)
        if (s[i].src) memcpy(host + s[i].off, s[i].src, s[i].count * sizeof *host);
    struct ar_mem buf = {0};
    CHECK_OK(ctx, ar_mem_alloc(ctx, total, &buf));
    CHECK_OK(ctx, ar_mem_write(ctx, buf, host, total));

    struct ar_lora_dims dims = {c->n_max, c->in, c->out, c->rank, c->groups};
    struct ar_lora_opts opts = {.scale = c->scale, .dropout = c->dropout, .plain = c->plain};
    struct ar_lora_layer *layer = NULL;
    CHECK_OK(ctx, ar_lora_layer_new(ctx, &dims, &opts, &layer));
    struct ar_mem none = {0};
#define LORA_AT(i) ar_mem_at(buf, s[i].off)
    bool r = c->rank > 0;
    struct ar_lora_weights w = {.w = LORA_AT(W),
                                .bias = c->bias ? LORA_AT(BIAS) : none,
                                .a = r ? LORA_AT(A) : none,
                                .b = r ? LORA_AT(B) : none,
                                .gate = r ? LORA_AT(GATE) : none,
                                .mask = r && c->mask ? LORA_AT(MASK) : none};
    struct ar_lora_grads g = {.dx = LORA_AT(DX),
                              .da = r ? LORA_AT(DA) : none,
                              .db = r ? LORA_AT(DB) : none,
                              .dgate = r && c->dgate ? LORA_AT(DG) : none,
                              .dx_accumulate = c->dx_accumulate};
    struct lora_result res = {0};
    res.forward_status =
        ar_lora_forward(layer, c->n, LORA_AT(X), &w, LORA_AT(Y), c->training, c->seed, c->step);
    CHECK(res.forward_status == AR_STATUS_OK, "%s: forward: %s", c->name, ar_ctx_errmsg(ctx));
    res.backward_status = ar_lora_backward(layer, LORA_AT(DY), &w, &g);
    CHECK(res.backward_status == AR_STATUS_OK, "%s: backward: %s", c->name, ar_ctx_errmsg(ctx));
#undef LORA_AT
    CHECK_OK(ctx, ar_mem_read(ctx, buf, host, total));
    float **outs[] = {[Y] = &res.y, [DX] = &res.dx, [DA] = &res.da, [DB] = &res.db, [DG] = &res.dg};
    for (int i = Y; i < SLOTS; i++) {
        *outs[i] = malloc((s[i].count ? s[i].count : 1) * sizeof(float));
        memcpy(*outs[i], host + s[i].off, s[i].count * sizeof(float));
    }
    /* Everything that is not an output must be as it was: inputs and the guard gaps. */
    for (size_t i = 0, slot = 0; i < total; i++) {
        while (slot < SLOTS && i >= s[slot].off + s[slot].count)
            slot++;
        bool inside = slot < SLOTS && i >= s[slot].off;
        if (inside && s[slot].written) continue;
        float want = inside ? s[slot].src[i - s[slot].off] : LORA_GUARD;
        res.guards_broken += host[i] != want;
    }
    free(host);
    ar_lora_layer_free(layer);
    ar_mem_release(&buf);
    return res;
}

static inline void lora_free_result(struct lora_result *r)
{
    free(r->y);
    free(r->dx);
    free(r->da);
    free(r->db);
    free(r->dg);
}

/* ---- comparisons ------------------------------------------------------------------------------
 *
 * test.h's policy measures the error against scale = max(max |ref|, rms of the summed terms).
 * A sum with cancellation (a gate gradient over a few rows, say) is far smaller than its terms,
 * so the terms' size is estimated by running the reference on |inputs| (Higham's |A|·|B| of
 * Thm 3.5, chained through every product): that gives Σ|terms| per element, and Σ|terms|/(k+1)
 * bounds their mean magnitude from below, k being the chain's total length. */

struct lora_abs {
    double *y, *dx, *da, *db, *dg;
};

static inline struct lora_abs lora_abs_reference(const struct lora_case *c,
                                                 const struct lora_data *d)
{
    const float *src[] = {d->x, d->w, d->bias, d->a, d->b, d->gate, d->dy};
    size_t n[] = {lc_x(c), lc_w(c), (size_t)c->groups * c->out, lc_a(c), lc_b(c), lc_g(c), lc_y(c)};
    double *v[7];
    for (int i = 0; i < 7; i++) {
        v[i] = ref_to_double(src[i], n[i]);
        for (size_t j = 0; j < n[i]; j++)
            v[i][j] = fabs(v[i][j]);
    }
    double *mask = ref_to_double(d->mask, lc_g(c));
    struct lora_abs r = {calloc(lc_y(c) + 1, sizeof(double)), calloc(lc_x(c) + 1, sizeof(double)),
                         calloc(lc_a(c) + 1, sizeof(double)), calloc(lc_b(c) + 1, sizeof(double)),
                         calloc(lc_g(c) + 1, sizeof(double))};
    struct lora_case pos = *c;
    pos.scale = fabsf(c->scale);
    ref_forward(&pos, v[0], v[1], v[2], v[3], v[4], v[5], mask, r.y, NULL);
    ref_backward(&pos, v[0], v[1], v[3], v[4], v[5], mask, v[6], r.dx, r.da, r.db, r.dg);
    for (int i = 0; i < 7; i++)
        free(v[i]);
    free(mask);
    return r;
}

static inline void lora_free_abs(struct lora_abs *a)
{
    free(a->y);
    free(a->dx);
    free(a->da);
    free(a->db);
    free(a->dg);
}

/* CHECK_CLOSE with the terms-aware scale above. */
static inline void lora_check_close(const char *what, const double *ref, const double *abs_ref,
                                    const float *got, size_t n, double k)
{
    double scale = test_max_abs(ref, n), terms = test_max_abs(abs_ref, n) / (k + 1.0);
    scale = fmax(scale, terms);
    double tol = test_tolerance(k, scale > 0 ? scale : 1.0), worst_err = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= worst_err)) {
            worst_err = e;
            worst = i;
        }
    }
    CHECK(worst_err <= tol, "%s: element %zu got %.9g want %.9g (err %.3g > tol %.3g)", what, worst,
          n ? (double)got[worst] : 0.0, n ? ref[worst] : 0.0, worst_err, tol);
}

#endif
