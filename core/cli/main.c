/* adarank-cl: the headless command line. Dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static int cli_version(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("adarank-cl %s\n", ar_version());
    return CLI_EXIT_OK;
}

static const struct command commands[] = {
    {"devices", cli_devices, "list OpenCL platforms and devices"},
    {"bench", cli_bench, "measure GEMM and gated-LoRA throughput against references"},
    {"train", cli_train, "fine-tune a checkpoint with LoRA adapters on a data file"},
    {"resume", cli_resume, "continue a stopped or killed train run from its last checkpoint"},
    {"eval", cli_eval, "evaluate a checkpoint with a trained adapter on a data file"},
    {"export", cli_export, "export a run's adapter (PEFT) or the base model with it merged"},
    {"tune", cli_tune, "tune CLBlast for a device and store the parameters"},
#ifdef ADARANK_WITH_CAIRO
    {"heatmap", cli_heatmap, "draw a run's rank heatmap and curves as a PNG"},
#endif
    {"version", cli_version, "print the version"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: adarank-cl <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun `adarank-cl <command> --help` for a command's options.\n"
                 "Environment: ADARANK_DEVICE (device index or name), ADARANK_CL_DIR (load\n"
                 "kernels from a folder), ADARANK_TUNING_DIR (CLBlast tables).\n");
}

int cli_exit_for_status(enum ar_status status)
{
    switch (status) {
    case AR_STATUS_OK:
        return CLI_EXIT_OK;
    case AR_STATUS_INVALID_ARGUMENT:
    case AR_STATUS_SHAPE_MISMATCH:
    case AR_STATUS_BAD_FORMAT:
    case AR_STATUS_IO:
    case AR_STATUS_NOT_FOUND:
    case AR_STATUS_UNSUPPORTED:
        return CLI_EXIT_BAD_INPUT;
    case AR_STATUS_NO_DEVICE:
    case AR_STATUS_OPENCL:
    case AR_STATUS_KERNEL_BUILD:
    case AR_STATUS_CLBLAST:
    case AR_STATUS_OUT_OF_MEMORY:
        return CLI_EXIT_DEVICE;
    case AR_STATUS_INTERRUPTED:
        return CLI_EXIT_INTERRUPTED;
    default:
        return CLI_EXIT_FAILURE;
    }
}

int cli_report(struct ar_ctx *ctx, enum ar_status status, const char *what)
{
    fprintf(stderr, "adarank-cl: %s: %s\n", what, ctx ? ar_ctx_errmsg(ctx) : ar_status_message(status));
    return cli_exit_for_status(status);
}

struct ar_ctx *cli_open_context(const char *device, int *exit_code)
{
    struct ar_ctx_params params = ar_ctx_default_params();
    params.device = device;
    return cli_open_context_with(&params, exit_code);
}

struct ar_ctx *cli_open_context_with(const struct ar_ctx_params *params, int *exit_code)
{
    struct ar_ctx *ctx = NULL;
    enum ar_status st = ar_ctx_new(params, &ctx);
    if (st != AR_STATUS_OK) {
        *exit_code = cli_report(ctx, st, "opening the OpenCL device");
        ar_ctx_free(ctx);
        return NULL;
    }
    *exit_code = CLI_EXIT_OK;
    return ctx;
}

enum ar_status cli_ctx_on_device(const struct ar_device_info *dev, const char *tuning_dir,
                                 struct ar_ctx **out)
{
    char sel[16];
    snprintf(sel, sizeof sel, "%d", dev->index);
    struct ar_ctx_params params = ar_ctx_default_params();
    params.device = sel;
    params.tuning_dir = tuning_dir;
    return ar_ctx_new(&params, out);
}

void cli_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(name, "--version"))
        return cli_version(0, NULL);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "adarank-cl: unknown command \"%s\"\n\n", name);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
