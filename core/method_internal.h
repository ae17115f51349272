/* The rank methods' shared object and the per-method table (core/method*.c). Library-internal. */
#ifndef ADARANK_CORE_METHOD_INTERNAL_H
#define ADARANK_CORE_METHOD_INTERNAL_H

#include "adarank/method.h"
#include "internal.h"

struct ar_method;

/* A growable byte buffer and its reader: the method state of a checkpoint (checkpoint_method.c).
 * put/get return false on failure (out of memory; reading past the end). */
struct ar__bytes {
    unsigned char *data;
    size_t size, cap;
};
struct ar__bytes_reader {
    const unsigned char *data;
    size_t size, pos;
};
bool ar__bytes_put(struct ar__bytes *b, const void *p, size_t n);
bool ar__bytes_get(struct ar__bytes_reader *r, void *p, size_t n);

/* What one method adds to the shared machinery; any member may be NULL. */
struct ar__method_impl {
    const char *values_kind; /* what the report's values are: "gate", "selection", ... */
    bool trains_gates;       /* false: gate gradients are zeroed after every backward */
    enum ar_status (*init)(struct ar_method *m);
    enum ar_status (*before_forward)(struct ar_method *m, const struct ar_train_state *s);
    enum ar_status (*after_backward)(struct ar_method *m, const struct ar_train_state *s);
    enum ar_status (*after_step)(struct ar_method *m, const struct ar_train_state *s);
    /* Fills report.values (and threshold, layer scores) after the shared part read the gates
     * into m->gates; NULL: the values are the gates. */
    enum ar_status (*report)(struct ar_method *m);
    enum ar_status (*finish)(struct ar_method *m);
    void (*free)(struct ar_method *m);
    /* ar_method_final_ranks; NULL: the report's effective ranks. */
    enum ar_status (*final_ranks)(struct ar_method *m, int *ranks);
    /* Bilevel methods (AutoLoRA, Flexora; core/hypergrad.c): writes the gates that the
     * hyper-variables m->bilevel->x give, and chains a gate gradient h (gate_total) to the
     * hyper-variables' gradient (bilevel->n). */
    enum ar_status (*apply_hyper)(struct ar_method *m);
    void (*chain_hyper)(struct ar_method *m, const float *h, double *grad);
    /* Checkpoints: the method's own state that is neither in the arena nor a function of the step
     * (AdaLoRA's Ī, Ū and pattern); load_state reads what save_state wrote. The bilevel state
     * (selection variables and their Adam) is saved by the shared code. */
    enum ar_status (*save_state)(struct ar_method *m, struct ar__bytes *out);
    enum ar_status (*load_state)(struct ar_method *m, struct ar__bytes_reader *in);
};

/* What AutoLoRA and Flexora share: the selection variables x with their host Adam, the search
 * split, and the scratch of the hypergradient (core/hypergrad.c). */
struct ar__bilevel {
    int n;                    /* hyper-variables: β (gate_total) or α (L) */
    float *x;                 /* (n) */
    double *grad;             /* (n) the last hypergradient dL_val/dx */
    double *adam_m, *adam_v;  /* (n) */
    int adam_t;
    float *h;                 /* (gate_total) the last hypergradient w.r.t. the gates */
    float *d, *gp, *gm;       /* (gate_total) direct term, ∇g L_tr at θ ± ε·v */
    struct ar_mem theta, v;   /* (arena total) saved parameters, validation gradient */
    float val_loss;           /* of the last search step, at θ' */
    int last_step;            /* the optimizer step searched last; -1: none */
    const struct ar_encoded *search; /* borrowed */
    int batch_size;
    int32_t pad_id;
    int *order;               /* (search->count) the current epoch's order */
    int cursor;
    uint64_t epoch;
    struct ar_padded_batch val_batch;
};

/* Options of one hypergradient (§2.2). */
struct ar__hypergrad_opts {
    float inner_lr;    /* ξ of the unrolled SGD step θ' = θ − ξ·∇θ L_tr(θ, g) */
    bool first_order;  /* h = ∂L_val(θ', g)/∂g only */
    float darts_r;     /* ε = darts_r/‖v‖ of the Hessian-vector finite difference */
    bool scale_by_lr;  /* DARTS' ξ on the second-order term (true) or Betty's none (false) */
};

struct ar_method {
    struct ar_ctx *ctx;
    struct ar_model *model;
    struct ar_trainer *trainer; /* set by ar_method_attach */
    struct ar_method_params p;
    uint64_t seed;
    const struct ar__method_impl *impl;
    void *state; /* the method's own */

    int n_modules;
    size_t gate_total; /* Σ R over modules */
    float *gates;      /* (gate_total) host copy, module i at gate_at[i] */
    size_t *gate_at;   /* (n_modules) */
    struct ar_method_report report;
    bool finished;
    struct ar__bilevel *bilevel; /* AutoLoRA and Flexora only */
};

extern const struct ar__method_impl ar__method_lora, ar__method_sora, ar__method_dylora,
    ar__method_adalora, ar__method_autolora, ar__method_flexora;

/* ---- the bilevel machinery (hypergrad.c) ---- */

/* m->bilevel with n hyper-variables, all `init`, and the scratch of the hypergradient. */
enum ar_status ar__bilevel_new(struct ar_method *m, int n, float init);
void ar__bilevel_free(struct ar__bilevel *b); /* NULL is fine */
/* The hypergradient h (gate_total) of F(g) = L_val(θ − ξ·∇θ L_tr(θ, g), g) w.r.t. the gates g,
 * θ = every arena parameter but the gates (DARTS, Liu et al. 2019, eq. 7; METHODS.md §2.2). Needs
 * zero gradients; leaves them zero and θ as it found it. val_loss: L_val at θ'. */
enum ar_status ar__hypergrad_gates(struct ar_method *m, const struct ar_batch *train,
                                   const struct ar_batch *val, const struct ar__hypergrad_opts *o,
                                   float *h, float *val_loss);
/* ar__hypergrad_gates into bilevel->h, chained into bilevel->grad (dL_val/dx). */
enum ar_status ar__bilevel_hyper_grad(struct ar_method *m, const struct ar_batch *train,
                                      const struct ar_batch *val,
                                      const struct ar__hypergrad_opts *o);
/* Sets the hyper-variables (n floats) and the gates they give. */
enum ar_status ar__bilevel_set(struct ar_method *m, const float *x);
/* One search step at the first micro-batch of every optimizer step (before_forward): the
 * hypergradient on s->batch and the next search batch, then one host Adam step on x (lr, betas,
 * eps 1e-8) and the new gates. inner_lr ≤ 0 takes the trainer's scheduled lr of this step. */
enum ar_status ar__bilevel_step(struct ar_method *m, const struct ar_train_state *s,
                                struct ar__hypergrad_opts o, float lr, float beta1, float beta2);
/* y += a·x over n floats (cl/gate.cl arena_axpy). */
enum ar_status ar__arena_axpy(struct ar_ctx *ctx, struct ar_mem y, struct ar_mem x, size_t n,
                              float a);
/* p = softmax(z) in double over the n entries with active[j] != 0 (NULL: all); inactive get 0. */
void ar__softmax(const float *z, const float *active, int n, double *p);
/* dz_j = p_j·(dp_j − Σ_i p_i·dp_i) over n entries with active[j] (NULL: all): the gradient through
 * p = softmax(z) (METHODS.md §2.1); inactive entries get 0. */
void ar__softmax_backward(const double *p, const double *dp, const float *active, int n,
                          double *dz);

/* Reads every module's gate into m->gates (one blocking read per module). */
enum ar_status ar__method_read_gates(struct ar_method *m);
/* Writes m->gates back to the arena's parameter region. */
enum ar_status ar__method_write_gates(struct ar_method *m);
/* Zeroes the gate gradients of every module (methods whose gates are not trained). */
enum ar_status ar__method_freeze_gates(struct ar_method *m);

/* Kernels of cl/gate.cl over one module (n gate entries at the given arena offsets). */
enum ar_status ar__gate_l1_grad(struct ar_ctx *ctx, struct ar_mem g, struct ar_mem grad, size_t n,
                                float coeff);
enum ar_status ar__gate_soft_threshold(struct ar_ctx *ctx, struct ar_mem g, size_t n, float xi);
enum ar_status ar__lora_component_keep(struct ar_ctx *ctx, struct ar_mem da, struct ar_mem db,
                                       int rank, int in, int out, int lo, int hi);

/* Ī, Ū (n, at offset 0) from parameters and gradients at any arena offset (cl/gate.cl). */
enum ar_status ar__adalora_sensitivity(struct ar_ctx *ctx, struct ar_mem p, struct ar_mem g,
                                       struct ar_mem ibar, struct ar_mem ubar, size_t n,
                                       float beta1, float beta2);

/* ---- checkpoints (checkpoint_method.c) ---- */

/* The method's host state (bilevel and impl->save_state) after its kind, appended to out. */
enum ar_status ar__method_save_state(struct ar_method *m, struct ar__bytes *out);
/* Restores it into a method of the same kind and model, attached to the resumed trainer. */
enum ar_status ar__method_load_state(struct ar_method *m, struct ar__bytes_reader *in);

/* splitmix64 and a standard normal from it (Box–Muller), for the methods' seeded draws. */
uint64_t ar__method_rand(uint64_t *state);
double ar__method_normal(uint64_t *state);

#endif
