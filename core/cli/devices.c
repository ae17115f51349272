/* `adarank-cl devices`: every OpenCL platform and device this machine offers, and with --check
 * whether each computes correct matrix products with the CLBlast tables it gets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void print_text(const struct ar_device_info *list, int count, int chosen)
{
    int platform = -1;
    for (int i = 0; i < count; i++) {
        const struct ar_device_info *d = &list[i];
        if (d->platform_index != platform) {
            platform = d->platform_index;
            printf("platform %d: %s\n", platform, d->platform_name);
        }
        printf("  [%d]%s %s\n", d->index, i == chosen ? "*" : " ", d->name);
        printf("       type %s, vendor %s, %u compute units\n", ar_device_type_name(d->type),
               d->vendor, d->compute_units);
        printf("       global memory %.2f GiB, max allocation %.2f GiB, local memory %llu KiB\n",
               (double)d->global_mem_bytes / (1 << 30), (double)d->max_alloc_bytes / (1 << 30),
               (unsigned long long)(d->local_mem_bytes >> 10));
        printf("       %s, %s, driver %s\n", d->version, d->c_version, d->driver);
        printf("       fp16 %s, fp64 %s, max work-group %zu\n", d->fp16 ? "yes" : "no",
               d->fp64 ? "yes" : "no", d->max_work_group_size);
    }
    if (chosen >= 0)
        printf("* default device (override with --device N|NAME or ADARANK_DEVICE)\n");
}

static void print_json(const struct ar_device_info *list, int count, int chosen)
{
    printf("[");
    for (int i = 0; i < count; i++) {
        const struct ar_device_info *d = &list[i];
        printf("%s\n  {\"index\": %d, \"default\": %s, \"platform\": ", i ? "," : "", d->index,
               i == chosen ? "true" : "false");
        cli_json_string(d->platform_name);
        printf(", \"name\": ");
        cli_json_string(d->name);
        printf(", \"vendor\": ");
        cli_json_string(d->vendor);
        printf(", \"type\": \"%s\", \"compute_units\": %u, \"global_mem_bytes\": %llu, "
               "\"max_alloc_bytes\": %llu, \"opencl_c_version\": ",
               ar_device_type_name(d->type), d->compute_units,
               (unsigned long long)d->global_mem_bytes, (unsigned long long)d->max_alloc_bytes);
        cli_json_string(d->c_version);
        printf(", \"fp16\": %s, \"fp64\": %s}", d->fp16 ? "true" : "false",
               d->fp64 ? "true" : "false");
    }
    printf("\n]\n");
}

/* --check: a context on device d (its CLBlast tables applied) and ar_gemm_self_check. */
static bool check_device(const struct ar_device_info *d)
{
    struct ar_ctx *ctx = NULL;
    enum ar_status st = cli_ctx_on_device(d, NULL, &ctx);
    if (st == AR_STATUS_OK) st = ar_gemm_self_check(ctx);
    if (st == AR_STATUS_OK) {
        const char *src = ar_ctx_tuning_source(ctx);
        printf("[%d] %s: matrix products correct (CLBlast tables: %s)\n", d->index, d->name,
               src ? src : "none");
    } else {
        fprintf(stderr, "adarank-cl devices: [%d] %s: %s\n", d->index, d->name,
                ar_ctx_errmsg(ctx));
    }
    ar_ctx_free(ctx);
    return st == AR_STATUS_OK;
}

int cli_devices(int argc, char **argv)
{
    bool json = false, check = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--check")) {
            check = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: adarank-cl devices [--json] [--check]\n\n"
                   "Lists every OpenCL platform and device with its type, compute units, memory,\n"
                   "OpenCL C version and fp16/fp64 support. The device marked * is the one other\n"
                   "commands use unless --device or ADARANK_DEVICE says otherwise.\n\n"
                   "  --check   also run matrix products of the engine's shapes on every device,\n"
                   "            with the CLBlast tables it gets (shipped, or stored by `tune`),\n"
                   "            against a host reference; exit 4 when one computes wrong results\n");
            return CLI_EXIT_OK;
        } else {
            fprintf(stderr, "adarank-cl devices: unknown option \"%s\" (try --help)\n", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    char err[1024] = "";
    struct ar_device_info *list = NULL;
    int count = 0;
    enum ar_status st = ar_device_list(&list, &count, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl devices: %s\n", err);
        return cli_exit_for_status(st);
    }
    if (count == 0 && !json) {
        fprintf(stderr, "adarank-cl devices: no OpenCL device found; install an OpenCL driver "
                        "(e.g. pocl-opencl-icd) and check `clinfo -l`\n");
        free(list);
        return CLI_EXIT_DEVICE;
    }
    const char *env = getenv("ADARANK_DEVICE");
    int chosen = ar_device_select(list, count, env, err, sizeof err);
    if (chosen < 0 && count > 0)
        fprintf(stderr, "adarank-cl devices: ADARANK_DEVICE: %s\n", err);
    if (json)
        print_json(list, count, chosen);
    else
        print_text(list, count, chosen);
    bool all_correct = true;
    for (int i = 0; check && i < count; i++)
        all_correct = check_device(&list[i]) && all_correct;
    free(list);
    return all_correct ? CLI_EXIT_OK : CLI_EXIT_DEVICE;
}
