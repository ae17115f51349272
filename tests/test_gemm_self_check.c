/* ar_gemm_self_check (core/blas_check.c) with the CLBlast tables this device gets by default:
 * the shipped tables must compute correct products on every shape the engine uses, batched
 * products on views (buffer offsets, the LoRA layer's interleaved groups) included: CLBlast's
 * batched routine gets some of those wrong on this PoCL unless blas.c packs them. And on
 * PoCL's AVX2 CPU device, where one GEMMK=1 Xgemm configuration from CLBlast's own tuner space
 * is known to return garbage on large products, the check must name the wrong product. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"

/* CLBlast 1.5.3 Xgemm, GEMMK=1, 64x32 tiles on 8x4 work-items, KREG 8, on PoCL 3.1
 * "pthread-haswell": wrong on the check's 67x45x129 NN, 1e32-sized errors from 512x768x3072 up. */
#define BROKEN_XGEMM                                                                               \
    "{\"GEMMK\": 1, \"KREG\": 8, \"KWG\": 1, \"KWI\": 1, \"MDIMA\": 8, \"MDIMC\": 8, "             \
    "\"MWG\": 64, \"NDIMB\": 4, \"NDIMC\": 4, \"NWG\": 32, \"SA\": 0, \"SB\": 0, \"STRM\": 0, "    \
    "\"STRN\": 0, \"VWM\": 8, \"VWN\": 1}"

static void write_table(const char *path, const char *device, const char *kernel,
                        const char *params)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fprintf(f,
            "{\"note\": \"test\", \"device_name\": \"%s\", \"kernel\": \"%s\", "
            "\"precision\": 32, \"parameters\": %s}\n",
            device, kernel, params);
    fclose(f);
}

static void test_shipped_tables(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    const char *src = ar_ctx_tuning_source(ctx);
    printf("# %s applies: %s\n", ar_ctx_device(ctx)->name, src ? src : "no table");
    enum ar_status st = ar_gemm_self_check(ctx);
    CHECK(st == AR_STATUS_OK, "self-check with the default tables: %s", ar_ctx_errmsg(ctx));
    ar_ctx_free(ctx);
}

/* Last: CLBlast keeps an override for the rest of the process. */
static void test_broken_table(void)
{
    struct ar_ctx *probe = test_open_ctx();
    char device[256];
    snprintf(device, sizeof device, "%s", ar_ctx_device(probe)->name);
    ar_ctx_free(probe);
    if (strncmp(device, "pthread-haswell-", 16) != 0) {
        printf("# the known-broken configuration is specific to PoCL's haswell target; %s is "
               "checked with its shipped tables only\n",
               device);
        return;
    }
    const char *dir = test_tmpdir("gemm-self-check");
    CHECK(dir != NULL, "temporary folder");
    if (!dir) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/broken-xgemm.json", dir);
    write_table(path, device, "Xgemm", BROKEN_XGEMM);
    snprintf(path, sizeof path, "%s/route.json", dir);
    write_table(path, device, "GemmRoutine", "{\"XGEMM_MIN_INDIRECT_SIZE\": 0}");
    struct ar_ctx_params p = ar_ctx_default_params();
    p.tuning_dir = dir;
    struct ar_ctx *ctx = NULL;
    CHECK_OK(ctx, ar_ctx_new(&p, &ctx));
    const char *src = ctx ? ar_ctx_tuning_source(ctx) : NULL;
    CHECK(src && strstr(src, "broken-xgemm.json"), "broken table applied: %s", src ? src : "none");
    enum ar_status st = ctx ? ar_gemm_self_check(ctx) : AR_STATUS_OK;
    const char *msg = ar_ctx_errmsg(ctx);
    CHECK(st == AR_STATUS_CLBLAST, "self-check with a broken Xgemm table gave status %d", (int)st);
    CHECK(msg && strstr(msg, "wrong") && strstr(msg, "product") && strstr(msg, device),
          "message names the wrong product and the device: %s", msg ? msg : "(none)");
    printf("# %s\n", msg ? msg : "");
    ar_ctx_free(ctx);
}

int main(void)
{
    test_shipped_tables();
    test_broken_table();
    return test_finish("gemm_self_check");
}
