/* Transformer building blocks on the device: everything except matrix products (blas.h) and the
 * gated LoRA layer (lora.h). Each op is one of our own kernels in cl/, checked against a plain-C
 * reference in tests/test_ops.c.
 *
 * Dimension legend (llm.c's): N rows (= B·T tokens), C channels, B batch, T time (sequence),
 * H heads, D head size (C = H·D), V vocabulary or classes. Row-major throughout.
 *
 * Integer tensors (token ids, labels) use the same (cl_mem, offset) view as floats: both are
 * 4-byte elements, and offsets count elements. Backward ops overwrite their output unless they
 * take an `accumulate` flag.
 *
 * Bad arguments (n ≤ 0, c ≤ 0, a missing required buffer, an out-of-range option) return
 * AR_STATUS_INVALID_ARGUMENT with a message naming the function and the operand; flat element
 * counts must stay below 2^31 (the kernels index with 32-bit ids).
 */
#ifndef ADARANK_OPS_H
#define ADARANK_OPS_H

#include "memory.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- embeddings ------------------------------------------------------------------------------ */

/* out[i] = wte[ids[i]] + wpe[pos[i]] (+ wtt[types[i]] when wtt is present)
 *   ids, pos, types: int (N); wte (V, C); wpe (P, C); wtt (Tv, C); out (N, C).
 * Ids outside their table are a programmer error caught on the host before upload. */
enum ar_status ar_embedding_forward(struct ar_ctx *ctx, int n, int c, struct ar_mem ids,
                                    struct ar_mem pos, struct ar_mem types, struct ar_mem wte,
                                    struct ar_mem wpe, struct ar_mem wtt, struct ar_mem out);

/* ---- normalisation --------------------------------------------------------------------------- */

/* LayerNorm over the last dimension: y = (x − mean)·rstd·gamma + beta.
 *   x, y (N, C); gamma, beta (C); mean, rstd (N) are saved for backward. y may alias x. */
enum ar_status ar_layernorm_forward(struct ar_ctx *ctx, int n, int c, float eps, struct ar_mem x,
                                    struct ar_mem gamma, struct ar_mem beta, struct ar_mem y,
                                    struct ar_mem mean, struct ar_mem rstd);

/* dx (+)= rstd·(dŷ − mean(dŷ) − x̂·mean(dŷ·x̂)) with dŷ = dy·gamma, x̂ = (x − mean)·rstd.
 * gamma and beta are frozen: no gradient for them. */
enum ar_status ar_layernorm_backward(struct ar_ctx *ctx, int n, int c, struct ar_mem dy,
                                     struct ar_mem x, struct ar_mem gamma, struct ar_mem mean,
                                     struct ar_mem rstd, struct ar_mem dx, bool accumulate);

/* ---- elementwise ----------------------------------------------------------------------------- */

/* y = a + b over n floats (residual connections). y may alias a or b. */
enum ar_status ar_add(struct ar_ctx *ctx, size_t n, struct ar_mem a, struct ar_mem b,
                      struct ar_mem y);

/* y[r, :] += bias for each of the n rows of y (N, C). */
enum ar_status ar_bias_add(struct ar_ctx *ctx, int n, int c, struct ar_mem bias, struct ar_mem y);

/* dbias (+)= Σ_rows dy, dy (N, C), dbias (C). */
enum ar_status ar_bias_grad(struct ar_ctx *ctx, int n, int c, struct ar_mem dy,
                            struct ar_mem dbias, bool accumulate);

enum ar_activation {
    AR_ACTIVATION_GELU,      /* exact: x·Φ(x) (BERT's "gelu") */
    AR_ACTIVATION_GELU_TANH, /* tanh approximation (GPT-2's "gelu_new") */
    AR_ACTIVATION_TANH,      /* BERT's pooler */
};

/* y = act(x) over n floats; y may alias x only if backward is not needed. */
enum ar_status ar_activation_forward(struct ar_ctx *ctx, enum ar_activation act, size_t n,
                                     struct ar_mem x, struct ar_mem y);
/* dx = act'(x)·dy (x is the forward input). */
enum ar_status ar_activation_backward(struct ar_ctx *ctx, enum ar_activation act, size_t n,
                                      struct ar_mem x, struct ar_mem dy, struct ar_mem dx);

/* Inverted dropout: y = x·keep/(1−p), keep drawn from ar_uniform(seed, stream, index) ≥ p, so
 * backward reproduces the mask from the same (seed, stream) without storing it. index is the
 * element's position in the view (0 … n−1), so give every dropout site its own stream. p = 0
 * copies, p = 1 zeroes; p outside [0, 1] is refused. y may alias x. */
enum ar_status ar_dropout_forward(struct ar_ctx *ctx, size_t n, float p, uint64_t seed,
                                  uint32_t stream, struct ar_mem x, struct ar_mem y);
enum ar_status ar_dropout_backward(struct ar_ctx *ctx, size_t n, float p, uint64_t seed,
                                   uint32_t stream, struct ar_mem dy, struct ar_mem dx);

/* Strided row copy: dst[r·dst_stride + j] = src[r·src_stride + j] for r < rows, j < c.
 * Picks the [CLS] rows out of (B, T, C) (src_stride = T·C) and scatters their gradient back. */
enum ar_status ar_copy_rows(struct ar_ctx *ctx, int rows, int c, struct ar_mem src,
                            size_t src_stride, struct ar_mem dst, size_t dst_stride);

/* ---- loss ------------------------------------------------------------------------------------ */

/* Softmax cross-entropy per row. logits (N, V); labels int (N), a label < 0 is ignored (PyTorch's
 * ignore_index −100); probs (N, V) saved for backward; losses (N) gets −log p[label] (0 when
 * ignored), computed as logsumexp − logit so it stays finite when p[label] underflows; a label ≥ V
 * (a caller's bug) gives a NaN loss. The mean over counted rows is taken on the host. */
enum ar_status ar_cross_entropy_forward(struct ar_ctx *ctx, int n, int v, struct ar_mem logits,
                                        struct ar_mem labels, struct ar_mem probs,
                                        struct ar_mem losses);
/* dlogits = scale·(probs − onehot(label)), zero rows for ignored labels; scale is 1/counted for a
 * mean loss (pass 0 when nothing is counted; a non-finite scale is refused). */
enum ar_status ar_cross_entropy_backward(struct ar_ctx *ctx, int n, int v, struct ar_mem probs,
                                         struct ar_mem labels, float scale, struct ar_mem dlogits);

/* ---- attention ------------------------------------------------------------------------------- */

/* Scaled dot-product attention over a fused projection, as BERT's q/k/v group and GPT-2's c_attn
 * produce it:
 *     qkv (B, T, 3C): column blocks [q | k | v], head h at columns h·D … h·D + D − 1 of each;
 *     out (B, T, C) = softmax(q·kᵀ/sqrt(D) + mask)·v, heads concatenated.
 * key_mask float (B, T), optional: 1 (any nonzero) keeps a key position, 0 masks it (padding);
 * causal adds the decoder's triangular mask. Masked keys get probability exactly 0; a query row
 * with no key left (a fully padded sequence) gives zeros, not NaN, and passes no gradient. The
 * two big products are strided-batched CLBlast calls over B·H; the permutes and the masked
 * softmax are our kernels. Attention-probability dropout is not implemented (fine-tuning recipes
 * for the supported models run it at 0.1; we document 0). */
struct ar_attention_dims {
    int batch, time, heads, head_size; /* maxima for the workspace */
    bool causal;
};

struct ar_attention;

enum ar_status ar_attention_new(struct ar_ctx *ctx, const struct ar_attention_dims *dims,
                                struct ar_attention **out);
void ar_attention_free(struct ar_attention *att); /* NULL is fine */

/* 1 ≤ b ≤ dims.batch, 1 ≤ t ≤ dims.time (else AR_STATUS_SHAPE_MISMATCH); qkv (b, t, 3C),
 * key_mask (b, t) and out (b, t, C) are packed for this b, t. Keeps q, k, v and the probabilities
 * for backward. */
enum ar_status ar_attention_forward(struct ar_attention *att, int b, int t, struct ar_mem qkv,
                                    struct ar_mem key_mask, struct ar_mem out);
/* dqkv (B, T, 3C) = gradient of the last successful forward call, overwritten; without one,
 * AR_STATUS_INVALID_ARGUMENT. */
enum ar_status ar_attention_backward(struct ar_attention *att, struct ar_mem dout,
                                     struct ar_mem dqkv);

/* ---- Llama blocks (core/ops_llama.c; cl/rmsnorm.cl, cl/rope.cl, cl/swiglu.cl) ----------------- */

/* RMSNorm (LlamaRMSNorm): y = x·rstd·w, rstd = 1/sqrt(mean(x²) + eps); x, y (N, C), w (C), rstd
 * (N) saved for backward; y may alias x. The weight is frozen: backward gives dx only,
 * dx (+)= rstd·(dŷ − x̂·mean(dŷ·x̂)) with dŷ = dy·w, x̂ = x·rstd. */
enum ar_status ar_rmsnorm_forward(struct ar_ctx *ctx, int n, int c, float eps, struct ar_mem x,
                                  struct ar_mem w, struct ar_mem y, struct ar_mem rstd);
enum ar_status ar_rmsnorm_backward(struct ar_ctx *ctx, int n, int c, struct ar_mem dy,
                                   struct ar_mem x, struct ar_mem w, struct ar_mem rstd,
                                   struct ar_mem dx, bool accumulate);

/* Rotary position embedding in transformers' rotate-half layout, fused with grouped-query
 * key/value expansion into ar_attention's packed input. Rows are (B, T) flattened, position
 * t = row mod T (LlamaModel's arange positions). heads must be a multiple of kv_heads (query head
 * h reads key/value head h / (heads / kv_heads), as repeat_kv) and head_size even. */
struct ar_rope_dims {
    int batch, time, heads, kv_heads, head_size;
};

/* cos, sin (time, head_size/2) = cos/sin(t·theta^(−2i/head_size)), computed on the host in double
 * and uploaded once. */
enum ar_status ar_rope_tables(struct ar_ctx *ctx, int time, int head_size, float theta,
                              struct ar_mem cos, struct ar_mem sin);
/* q (N, H·D), kv (N, 2·KV·D) = [k | v] → qkv (N, 3·H·D) = [rope(q) | rope(k) | v], k and v repeated
 * to H heads. */
enum ar_status ar_rope_qkv_forward(struct ar_ctx *ctx, const struct ar_rope_dims *d,
                                   struct ar_mem q, struct ar_mem kv, struct ar_mem cos,
                                   struct ar_mem sin, struct ar_mem qkv);
/* The transpose: dqkv (N, 3·H·D) → dq (N, H·D), dkv (N, 2·KV·D) (overwritten), repeated heads
 * summed. */
enum ar_status ar_rope_qkv_backward(struct ar_ctx *ctx, const struct ar_rope_dims *d,
                                    struct ar_mem dqkv, struct ar_mem cos, struct ar_mem sin,
                                    struct ar_mem dq, struct ar_mem dkv);

/* SwiGLU: gu (N, 2·I) rows [gate | up] → y (N, I) = silu(gate)·up; backward dgu (N, 2·I)
 * (overwritten) from dy (N, I). */
enum ar_status ar_swiglu_forward(struct ar_ctx *ctx, int n, int i, struct ar_mem gu,
                                 struct ar_mem y);
enum ar_status ar_swiglu_backward(struct ar_ctx *ctx, int n, int i, struct ar_mem gu,
                                  struct ar_mem dy, struct ar_mem dgu);

#ifdef __cplusplus
}
#endif

#endif
