/* CLBlast parameter tables: where they live and how `adarank-cl tune` makes them.
 *
 * CLBlast picks kernel parameters (tile sizes, vector widths…) from a database compiled into the
 * library; a device it has never seen runs on generic defaults, which on PoCL's CPU device are
 * 3-4x slower than tuned ones (compare `adarank-cl bench gemm` with `--no-tuning`). adarank
 * keeps one JSON table per (device, kernel):
 *
 *     {"note": "how it was measured", "device_name": "pthread-haswell-AMD EPYC",
 *      "kernel": "Xgemm", "precision": 32, "parameters": {"GEMMK": 0, "KREG": 1, ...}}
 *
 * and applies every matching table when a context opens (ar_ctx_params.apply_tuning), with
 * CLBlastOverrideParameters. Tables come from the user folder (see ar_tuning_user_dir) and then
 * from the copies of data/clblast/ embedded in the library. Matching, per (kernel, precision):
 *   1. a table whose device_name equals the device's CL_DEVICE_NAME; user tables win over
 *      embedded ones, then file names in byte order;
 *   2. only when no table matches exactly, a PoCL CPU table tuned for the same CPU model under a
 *      different LLVM target ("pthread-skylake-avx512-AMD EPYC" for "pthread-haswell-AMD EPYC"):
 *      tile shapes carry over between x86 targets (the AVX-512 Xgemm table ran about 2x faster
 *      than CLBlast's defaults on the AVX2 device), and the context's tuning source says
 *      "(nearest: tuned on …)" so it is never silent;
 *   3. nothing else: other devices run on CLBlast's own database.
 * Besides Xgemm and XgemmDirect, a "GemmRoutine" table sets XGEMM_MIN_INDIRECT_SIZE: products
 * with m·n·k below its cube go to XgemmDirect, the rest to Xgemm. One kind is adarank's own,
 * not CLBlast's: "GemmBlocking" (precision 32, exactly the parameters N_BLOCK and MIN_NK) makes
 * ar_gemm run a product with n > N_BLOCK and n·k >= MIN_NK as column blocks of C, N_BLOCK wide
 * (N_BLOCK 0: never), where the device runs large products faster that way; it applies to the
 * context alone. `adarank-cl tune` measures it last (`--kernels blocking`, no CLBlast tuner:
 * ar_gemm timed at a few widths with the tables stored so far); the shipped pocl-haswell values
 * come from a finer scan by hand (docs/performance.md).
 * A malformed table, or one CLBlast rejects, is skipped with a warning through the context's log
 * callback; it never fails ar_ctx_new. CLBlast keeps overrides per process and device, so they
 * outlive the context that applied them. See ar_ctx_tuning_source() for what was applied.
 */
#ifndef ADARANK_TUNING_H
#define ADARANK_TUNING_H

#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The folder of user tables: `dir` when non-empty, else $ADARANK_TUNING_DIR, else
 * $XDG_CACHE_HOME/adarank-cl/clblast, else $HOME/.cache/adarank-cl/clblast. The folder need not
 * exist. Fails (AR_STATUS_NOT_FOUND) only when none of these is set, or the path does not fit. */
enum ar_status ar_tuning_user_dir(const char *dir, char *out, size_t out_size, char *err,
                                  size_t err_size);

/* Checks a table's text the way a context does before applying it; err says what is wrong. */
enum ar_status ar_tuning_table_check(const char *text, size_t len, char *err, size_t err_size);

/* Makes one adarank table from the files one CLBlast tuner wrote (clblast_xgemm_1_32.json,
 * clblast_xgemm_2_32.json, …: one per search phase). Configurations are ranked by speed over all
 * files (2·m·n·k / time, so runs at different sizes compare); `rank` 0 takes the fastest, 1 the
 * runner-up and so on (a tuner validates a configuration on one square product only, and
 * `adarank-cl tune` moves down the ranking when a table computes wrong results on other shapes).
 * The tuner's kernel variant names map to the name CLBlastOverrideParameters takes
 * ("XgemmDirectTN" -> "XgemmDirect"). On success *out_json (free with free()) holds the table
 * and kernel the kernel's name; `note` (may be NULL) is stored as the table's note, followed by
 * the configuration's time and the number measured. AR_STATUS_NOT_FOUND: fewer than rank + 1
 * configurations. */
enum ar_status ar_tuning_table_from_tuner(const char *const *paths, size_t count, size_t rank,
                                          const char *note, char **out_json, char *kernel,
                                          size_t kernel_size, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
