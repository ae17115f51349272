/* Embeddings: the sum of the token, position and (optional) token-type table rows.
 *
 *   out[i, :] = wte[ids[i], :] + wpe[pos[i], :] (+ wtt[types[i], :] when has_types)
 *   ids, pos, types: int (N); wte (V, C); wpe (P, C); wtt (Tv, C); out (N, C).
 *
 * Work-items: a 2-D range (C, N), one work-item per output element, so neighbouring work-items
 * read neighbouring floats of the same table row. The ids were range-checked on the host before
 * upload (ops.h), so no id is checked here; only the rounded-up work-item ids are.
 * Integer tensors share the float views' (buffer, offset-in-elements) convention.
 */
__kernel void embedding_forward(int n, int c, __global const int *ids, uint ids_off,
                                __global const int *pos, uint pos_off,
                                __global const int *types, uint types_off, int has_types,
                                __global const float *wte, uint wte_off,
                                __global const float *wpe, uint wpe_off,
                                __global const float *wtt, uint wtt_off,
                                __global float *out, uint out_off)
{
    int j = (int)get_global_id(0);
    int i = (int)get_global_id(1);
    if (j >= c || i >= n)
        return;
    float v = wte[wte_off + (size_t)ids[ids_off + i] * c + j] +
              wpe[wpe_off + (size_t)pos[pos_off + i] * c + j];
    if (has_types)
        v += wtt[wtt_off + (size_t)types[types_off + i] * c + j];
    out[out_off + (size_t)i * c + j] = v;
}
