/* `adarank-cl export RUN_DIR [-o DIR] [--merged]`: what a run trained, for use elsewhere.
 *
 * `train` already leaves RUN_DIR/adapter, a PEFT LoRA adapter folder with every method's state
 * folded into plain factors (peft.h); export checks that it loads and copies it to DIR, or, with
 * --merged, folds it into the base checkpoint (peft_merge.h) so that DIR is a plain model folder
 * that needs no adapter. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../json.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: adarank-cl export RUN_DIR [-o DIR] [--merged] [--model DIR]\n\n"
            "Exports what `adarank-cl train` trained in RUN_DIR.\n\n"
            "  (default)        DIR becomes a Hugging Face PEFT LoRA adapter folder:\n"
            "                   adapter_config.json (r, lora_alpha, rank_pattern, alpha_pattern,\n"
            "                   target_modules without rank-0 modules, modules_to_save: the head),\n"
            "                   adapter_model.safetensors (folded lora_A/lora_B and the head) and\n"
            "                   adarank_state.json (the method's ranks and state). Load it with\n"
            "                   PeftModel.from_pretrained(base, DIR) or `adarank-cl eval --adapter`.\n"
            "  --merged         DIR becomes a plain model folder: the base checkpoint with every\n"
            "                   adapted weight replaced by W + scale*B*A (GPT-2's Conv1D in its\n"
            "                   own (in, out) layout), the trained head (classifier or score), a\n"
            "                   config.json with the task's class (e.g. LlamaForCausalLM,\n"
            "                   GPT2ForSequenceClassification) and the run's labels, and the\n"
            "                   tokenizer files; from_pretrained(DIR) loads it without PEFT.\n"
            "  -o, --out DIR    output folder (default RUN_DIR/export, or RUN_DIR/merged)\n"
            "  --model DIR      the base checkpoint (default: \"model\" of RUN_DIR/config.json)\n");
}

static bool copy_file(const char *from, const char *to, char *err, size_t err_size)
{
    FILE *in = fopen(from, "rb");
    if (!in) {
        snprintf(err, err_size, "%.2000s: %s", from, strerror(errno));
        return false;
    }
    FILE *out = fopen(to, "wb");
    bool ok = out != NULL;
    char buf[1 << 16];
    for (size_t n; ok && (n = fread(buf, 1, sizeof buf, in)) > 0;)
        ok = fwrite(buf, 1, n, out) == n;
    ok = !ferror(in) && ok;
    fclose(in);
    ok = (out && fclose(out) == 0) && ok;
    if (!ok)
        snprintf(err, err_size, "%.2000s: cannot write: %s", to, strerror(errno));
    return ok;
}

/* The adapter must load before it is copied: a half-written or foreign folder is refused. It is
 * read whole (peft.h), with the checks every reader of it applies (eval, --init-adapter, merge). */
static int check_adapter(const char *adapter)
{
    char err[2048];
    struct ar_peft_adapter *a = NULL;
    enum ar_status st = ar_peft_adapter_read(adapter, &a, err, sizeof err);
    ar_peft_adapter_free(a);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: export: %s\n", err);
        return cli_exit_for_status(st);
    }
    return CLI_EXIT_OK;
}

static int copy_adapter(const char *adapter, const char *out)
{
    /* the config last: its presence marks a complete adapter folder, as ar_peft_export does */
    static const char *const files[] = {AR_PEFT_WEIGHTS_FILE, AR_PEFT_STATE_FILE,
                                        AR_PEFT_CONFIG_FILE};
    char from[4096], to[4096], err[4096];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(from, sizeof from, "%.3000s/%s", adapter, files[i]);
        snprintf(to, sizeof to, "%.3000s/%s", out, files[i]);
        struct stat sb;
        if (stat(from, &sb) != 0 && !strcmp(files[i], AR_PEFT_STATE_FILE))
            continue; /* an adapter from elsewhere has no sidecar */
        if (!copy_file(from, to, err, sizeof err)) {
            fprintf(stderr, "adarank-cl: export: %s\n", err);
            return CLI_EXIT_BAD_INPUT;
        }
    }
    return CLI_EXIT_OK;
}

/* The run's base checkpoint. config.json holds the path as `train` was given it, which a loader
 * takes relative to the run folder; a path given relative to the working folder is tried too. */
static const char *base_model(const char *run_config, const char *resolved, char *buf,
                              size_t size)
{
    char probe[4096], err[512];
    struct stat sb;
    snprintf(probe, sizeof probe, "%.3000s/config.json", resolved ? resolved : "");
    if (!resolved || stat(probe, &sb) == 0)
        return resolved;
    struct ar__json_doc *doc = ar__json_parse_file(run_config, err, sizeof err);
    const char *raw = NULL;
    if (doc && ar__json_as_string(ar__json_get(ar__json_root(doc), "model"), &raw))
        snprintf(buf, size, "%s", raw);
    ar__json_free(doc);
    return raw ? buf : resolved;
}

int cli_export(int argc, char **argv)
{
    const char *run = NULL, *out = NULL, *model = NULL;
    bool merged = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(o, "--merged")) {
            merged = true;
        } else if (!strcmp(o, "-o") || !strcmp(o, "--out") || !strcmp(o, "--model")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "adarank-cl: export: %s needs a folder\n", o);
                return CLI_EXIT_USAGE;
            }
            *(strcmp(o, "--model") ? &out : &model) = argv[++i];
        } else if (o[0] == '-' || run) {
            fprintf(stderr, "adarank-cl: export: unexpected argument \"%s\" (see --help)\n", o);
            return CLI_EXIT_USAGE;
        } else {
            run = o;
        }
    }
    if (!run) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    char adapter[4096], path[4096], out_buf[4096], err[4096];
    snprintf(adapter, sizeof adapter, "%.3000s/adapter", run);
    snprintf(path, sizeof path, "%.3000s/config.json", run);
    struct ar_train_config cfg;
    ar_train_config_init(&cfg);
    enum ar_status st = ar_train_config_load(&cfg, path, err, sizeof err);
    int rc = CLI_EXIT_OK;
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: export: %s is not a run folder of `train`: %s\n", run, err);
        rc = CLI_EXIT_BAD_INPUT;
    }
    if (!rc)
        rc = check_adapter(adapter);
    if (!out) {
        snprintf(out_buf, sizeof out_buf, "%.3000s/%s", run, merged ? "merged" : "export");
        out = out_buf;
    }
    if (!rc && mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "adarank-cl: export: %s: cannot create: %s\n", out, strerror(errno));
        rc = CLI_EXIT_BAD_INPUT;
    }
    if (!rc && !merged)
        rc = copy_adapter(adapter, out);
    if (!rc && merged) {
        char raw[4096];
        const char *base = model ? model : base_model(path, cfg.model, raw, sizeof raw);
        st = ar_peft_merge(base, adapter, out, (const char *const *)cfg.labels, cfg.label_count,
                           err, sizeof err);
        if (st != AR_STATUS_OK) {
            fprintf(stderr, "adarank-cl: export: merging into %s: %s\n", base, err);
            rc = cli_exit_for_status(st);
        }
    }
    if (!rc)
        printf("%s: %s\n", merged ? "merged model" : "adapter", out);
    ar_train_config_clear(&cfg);
    return rc;
}
