/* Common prelude, prepended to every cl/ family before it is built.
 *
 * Conventions for every kernel in cl/:
 *   - float32 only (the PoCL CPU device has no fp16; fp64 is not everywhere);
 *   - every buffer argument comes with an offset in floats (the (cl_mem, offset) pairs of the
 *     host API), so views into a flat arena need no sub-buffers, whose alignment rules vary;
 *   - global sizes are rounded up to the work-group size by the host: bounds-check every id;
 *   - tunables are #ifndef macros that the host may set with -D.
 */
#ifndef AR_WGS
#define AR_WGS 64 /* work-group size of 1-D reductions */
#endif

/* Counter-based random numbers (a 32-bit finaliser-style hash of (seed, stream, index)): the
 * same mask is reproduced in forward and backward and on every device, without storing it. */
inline uint ar_hash(uint x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* Uniform in [0, 1) from 24 random bits, exact in float. */
inline float ar_uniform(uint seed_lo, uint seed_hi, uint stream, uint index)
{
    uint h = ar_hash(seed_lo ^ ar_hash(seed_hi ^ ar_hash(stream ^ ar_hash(index))));
    return (float)(h >> 8) * (1.0f / 16777216.0f);
}

/* The eight lanes of a float8 added, or their maximum: the end of a row walked eight floats at a
 * time (the _rows kernels of attention and LayerNorm). */
inline float ar_sum8(float8 v)
{
    float4 a = v.lo + v.hi;
    float2 b = a.lo + a.hi;
    return b.lo + b.hi;
}

inline float ar_max8(float8 v)
{
    float4 a = fmax(v.lo, v.hi);
    float2 b = fmax(a.lo, a.hi);
    return fmax(b.lo, b.hi);
}
