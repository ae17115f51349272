/* Softmax cross-entropy per row, forward and backward.
 *
 *   forward:  probs[i, :] = softmax(logits[i, :]);  losses[i] = logsumexp(logits[i, :]) −
 *             logits[i, label_i], or 0 when label_i < 0 (ignored, PyTorch's ignore_index);
 *             a label ≥ V writes NaN so the mistake shows in the loss.
 *             logits, probs (N, V); labels int (N); losses (N).
 *   backward: dlogits[i, j] = scale·(probs[i, j] − [j = label_i]), 0 on ignored rows.
 *
 * Work-items: forward is one work-group of AR_WGS per row (global N·AR_WGS) with two local-memory
 * reductions, the row maximum and Σ exp(x − max): subtracting the maximum keeps exp from
 * overflowing, and the loss comes from the log-sum-exp rather than −log(prob), which would lose
 * everything once prob underflows. Backward is a 2-D range (V, N), one work-item per element.
 * Tunables: AR_WGS (power of two, set by the host with -D to the launch's local size).
 */

/* op(v) over the work-group (op: 0 sum, 1 max); every work-item gets the result. */
inline float ce_group_reduce(float v, int op, __local float *scratch)
{
    int lid = (int)get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = AR_WGS / 2; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] = op ? fmax(scratch[lid], scratch[lid + s])
                              : scratch[lid] + scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

__kernel void cross_entropy_forward(int n, int v, __global const float *logits, uint logits_off,
                                    __global const int *labels, uint labels_off,
                                    __global float *probs, uint probs_off, __global float *losses,
                                    uint losses_off)
{
    __local float scratch[AR_WGS];
    int row = (int)get_group_id(0);
    int lid = (int)get_local_id(0);
    /* No early return before the barriers (PoCL 3.1, see layernorm.cl): a spare group works
     * on an empty row. */
    if (row >= n)
        v = 0;
    __global const float *x = logits + logits_off + (size_t)row * v;
    __global float *p = probs + probs_off + (size_t)row * v;

    float m = -INFINITY;
    for (int j = lid; j < v; j += AR_WGS)
        m = fmax(m, x[j]);
    m = ce_group_reduce(m, 1, scratch);
    float s = 0.0f;
    for (int j = lid; j < v; j += AR_WGS)
        s += exp(x[j] - m);
    s = ce_group_reduce(s, 0, scratch);
    float inv = 1.0f / s;
    for (int j = lid; j < v; j += AR_WGS)
        p[j] = exp(x[j] - m) * inv;
    if (lid == 0 && row < n) {
        int label = labels[labels_off + row];
        float loss = 0.0f;
        if (label >= v)
            loss = NAN;
        else if (label >= 0)
            loss = m + log(s) - x[label];
        losses[losses_off + row] = loss;
    }
}

__kernel void cross_entropy_backward(int n, int v, __global const float *probs, uint probs_off,
                                     __global const int *labels, uint labels_off, float scale,
                                     __global float *dlogits, uint dlogits_off)
{
    int j = (int)get_global_id(0);
    int row = (int)get_global_id(1);
    if (j >= v || row >= n)
        return;
    int label = labels[labels_off + row];
    size_t at = (size_t)row * v + j;
    float g = 0.0f;
    if (label >= 0)
        g = scale * (probs[probs_off + at] - (j == label ? 1.0f : 0.0f));
    dlogits[dlogits_off + at] = g;
}
