/* `adarank-cl bench`: throughput measurements, one file per benchmark (bench_<name>.c). */
#include <string.h>

#include "cli.h"

struct bench {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct bench benches[] = {
    {"gemm", cli_bench_gemm, "CLBlast against OpenBLAS on transformer-shaped products"},
    {"lora", cli_bench_lora, "the gated LoRA layer against plain LoRA"},
    {"step", cli_bench_step, "one LoRA training step of a checkpoint against PyTorch"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: adarank-cl bench <benchmark> [options]\n\nbenchmarks:\n");
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        fprintf(out, "  %-6s %s\n", benches[i].name, benches[i].summary);
    fprintf(out, "\nRun `adarank-cl bench <benchmark> --help` for its options. Every benchmark\n"
                 "takes --device N|NAME, --json and --quick.\n");
}

int cli_bench(int argc, char **argv)
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
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (!strcmp(name, benches[i].name)) return benches[i].run(argc - 1, argv + 1);
    fprintf(stderr, "adarank-cl bench: unknown benchmark \"%s\"\n\n", name);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
