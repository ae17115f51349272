/* `adarank-cl train`: fine-tune a checkpoint with LoRA adapters on a labelled data file.
 *
 * Every key of the config file is an option (--max-length is "max_length"); the precedence is
 * defaults < --config FILE < the other options, and the effective configuration is written to
 * RUN_DIR/config.json. SIGINT/SIGTERM stop the run cleanly: the trainer finishes its current
 * optimizer step, a checkpoint (for `adarank-cl resume`), metrics and the adapter are written, and
 * the exit code is 5. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "train_job.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: adarank-cl train --model DIR --train FILE --out RUN_DIR [options]\n\n"
            "Fine-tunes the checkpoint in DIR (config.json, model.safetensors, tokenizer.json)\n"
            "with LoRA adapters on a sequence-classification data file (TSV, CSV or JSONL with\n"
            "columns text,label or text_a,text_b,label). RUN_DIR receives config.json,\n"
            "metrics.jsonl, heatmap.png and the adapter.\n\n"
            "  --config FILE        a JSON object of the keys below (paths relative to it);\n"
            "                       options given on the command line win\n"
            "  --quiet              plain log lines instead of a progress line\n"
            "  --json               print a JSON summary on stdout at the end\n");
    const char *help;
    for (int i = 0; ar_train_config_key(i, &help); i++) {
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", ar_train_config_key(i, NULL));
        for (char *p = opt + 2; *p; p++)
            *p = *p == '_' ? '-' : *p;
        bool flag = ar_train_config_key_is_bool(ar_train_config_key(i, NULL));
        if (strlen(opt) > 20) /* the method keys: help on its own line, aligned */
            fprintf(out, "  %s\n  %-20s %s%s\n", opt, "", help,
                    flag ? " (flag; or =true/false)" : "");
        else
            fprintf(out, "  %-20s %s%s\n", opt, help, flag ? " (flag; or =true/false)" : "");
    }
    struct ar_train_config d;
    ar_train_config_init(&d);
    fprintf(out,
            "\nDefaults: method %s, targets %s, rank %d, alpha %g, lr %g, epochs %d, batch %d,\n"
            "max length %d, validation fraction %g, seed %llu.\n"
            "Exit codes: 0 done, 2 usage, 3 bad input, 4 device, 5 interrupted.\n",
            d.method, d.targets, d.rank, d.alpha, d.params.lr, d.params.epochs,
            d.params.batch_size, d.max_length, d.validation_fraction,
            (unsigned long long)d.params.seed);
    ar_train_config_clear(&d);
}

/* "--max-length" → "max_length"; NULL when arg is not an option. */
static const char *key_of(const char *arg, char *key, size_t size)
{
    if (strncmp(arg, "--", 2) || !arg[2])
        return NULL;
    snprintf(key, size, "%s", arg + 2);
    char *eq = strchr(key, '=');
    if (eq)
        *eq = '\0';
    for (char *p = key; *p; p++)
        *p = *p == '-' ? '_' : *p;
    return key;
}

/* Applies the options (all but --config/--quiet/--json, handled first). */
static int apply_options(struct ar_train_config *cfg, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char key[128], err[512];
        if (!key_of(argv[i], key, sizeof key)) {
            fprintf(stderr, "adarank-cl: train: unexpected argument \"%s\"\n", argv[i]);
            return CLI_EXIT_USAGE;
        }
        const char *opt = argv[i], *eq = strchr(argv[i], '=');
        const char *value = eq ? eq + 1 : NULL;
        if (!strcmp(key, "quiet") || !strcmp(key, "json"))
            continue;
        if (!strcmp(key, "config")) {
            i += !value;
            continue;
        }
        if (!value && ar_train_config_key_is_bool(key))
            value = "true";
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "adarank-cl: train: %s needs a value\n", argv[i]);
                return CLI_EXIT_USAGE;
            }
            value = argv[++i];
        }
        enum ar_status st = ar_train_config_set(cfg, key, value, err, sizeof err);
        if (st == AR_STATUS_NOT_FOUND) {
            fprintf(stderr, "adarank-cl: train: unknown option %s (see --help)\n", opt);
            return CLI_EXIT_USAGE;
        }
        if (st != AR_STATUS_OK) {
            fprintf(stderr, "adarank-cl: train: --%s\n", err);
            return CLI_EXIT_USAGE;
        }
    }
    return CLI_EXIT_OK;
}

int cli_train(int argc, char **argv)
{
    struct cli_train_ui ui = {.tty = isatty(STDERR_FILENO) == 1};
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(argv[i], "--quiet"))
            ui.quiet = true;
        else if (!strcmp(argv[i], "--json"))
            ui.json = true;
        else if (!strncmp(argv[i], "--config=", 9))
            config = argv[i] + 9;
        else if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "adarank-cl: train: --config needs a file\n");
                return CLI_EXIT_USAGE;
            }
            config = argv[++i];
        }
    }
    struct ar_train_config cfg;
    ar_train_config_init(&cfg);
    char err[1024];
    int rc = CLI_EXIT_OK;
    if (config) {
        enum ar_status st = ar_train_config_load(&cfg, config, err, sizeof err);
        if (st != AR_STATUS_OK) {
            fprintf(stderr, "adarank-cl: train: %s\n", err);
            rc = cli_exit_for_status(st);
        }
    }
    if (!rc)
        rc = apply_options(&cfg, argc, argv);
    if (!rc) {
        enum ar_status st = ar_train_config_check(&cfg, err, sizeof err);
        if (st != AR_STATUS_OK) {
            fprintf(stderr, "adarank-cl: train: %s\n", err);
            rc = st == AR_STATUS_INVALID_ARGUMENT ? CLI_EXIT_USAGE : cli_exit_for_status(st);
        }
    }
    if (!rc)
        rc = cli_train_job_interruptible(&cfg, &ui);
    ar_train_config_clear(&cfg);
    return rc;
}
