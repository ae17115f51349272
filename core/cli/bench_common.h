/* What the `bench` benchmarks (bench_gemm.c, bench_lora.c, bench_step*.c) share: a monotonic
 * clock, the median they all report, and integer option parsing. */
#ifndef ADARANK_CLI_BENCH_COMMON_H
#define ADARANK_CLI_BENCH_COMMON_H

/* Monotonic wall-clock time in seconds (CLOCK_MONOTONIC): for differences only. */
double bench_now_s(void);

/* Sorts t[0..n) (n ≥ 1) and returns its median (the mean of the middle two when n is even). */
double bench_median(double *t, long n);

/* A whole decimal number in lo..hi, nothing else in text: 0 and *out set; else 1, *out unchanged
 * (the caller prints the message, in its own words). */
int bench_parse_long(const char *text, long lo, long hi, long *out);

#endif
