/* `adarank-cl eval`: a checkpoint plus an exported PEFT LoRA adapter (RUN_DIR/adapter) on a
 * labelled data file: loss, accuracy, macro F1 and Matthews correlation.
 *
 * The adapter is loaded into the gated engine as plain LoRA: each module's kept rank r_m sits in
 * the first r_m of the model's R = max r_m components (the rest zero), and its PEFT scale
 * alpha_m/r_m is folded into B relative to the engine's one scale, so ΔW = s_m·B·A exactly as PEFT
 * computes it. Class names come from --labels or from the run's config.json next to the adapter,
 * so the ids are those of training. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../json.h"
#include "cli.h"

struct adapter_module {
    char name[256];
    const struct ar_st_tensor *a, *b; /* (r, in), (out, r) */
    double scale;
};

struct eval_args {
    const char *model, *adapter, *data, *device, *labels;
    int max_length, batch;
    bool json;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: adarank-cl eval --model DIR --adapter DIR --data FILE [options]\n\n"
                 "Evaluates the checkpoint in DIR with the PEFT LoRA adapter (as `train` writes\n"
                 "it to RUN_DIR/adapter) on a labelled data file.\n\n"
                 "  --labels A,B,...     class names in id order (default: the run's config.json\n"
                 "                       next to the adapter, else from the data)\n"
                 "  --max-length N       tokens per example (default: the run's, else 128)\n"
                 "  --batch N            examples per batch (default 64)\n"
                 "  --device D           OpenCL device index or name\n"
                 "  --json               print the metrics as JSON\n");
}

/* Scale of module `name` as PEFT computes it from adapter_config.json. */
static double module_scale(const struct ar__json_node *cfg, const char *name, int r)
{
    double alpha = 8, rr = r;
    bool rs = false;
    ar__json_as_double(ar__json_get(cfg, "lora_alpha"), &alpha);
    ar__json_as_bool(ar__json_get(cfg, "use_rslora"), &rs);
    const struct ar__json_node *ap = ar__json_get(cfg, "alpha_pattern");
    for (size_t i = 0; ap && ap->type == AR__JSON_OBJECT && i < ap->count; i++) {
        size_t n = strlen(name), k = strlen(ap->keys[i]);
        if (n >= k && !strcmp(name + n - k, ap->keys[i]) && (n == k || name[n - k - 1] == '.'))
            ar__json_as_double(ap->items[i], &alpha);
    }
    return rs ? alpha / sqrt(rr) : alpha / rr;
}

/* Finds the adapter's modules: tensors "base_model.model.<name>.lora_A.weight" and lora_B. */
static int list_modules(const struct ar_safetensors *st, const struct ar__json_node *cfg,
                        struct adapter_module **out, int *n)
{
    static const char prefix[] = "base_model.model.", suffix[] = ".lora_A.weight";
    size_t count = ar_safetensors_count(st);
    *out = calloc(count + 1, sizeof **out);
    *n = 0;
    if (!*out)
        return CLI_EXIT_FAILURE;
    for (size_t i = 0; i < count; i++) {
        const struct ar_st_tensor *a = ar_safetensors_at(st, i);
        size_t len = strlen(a->name);
        if (strncmp(a->name, prefix, sizeof prefix - 1) || len < sizeof prefix + sizeof suffix ||
            strcmp(a->name + len - (sizeof suffix - 1), suffix))
            continue;
        struct adapter_module *m = &(*out)[(*n)++];
        snprintf(m->name, sizeof m->name, "%.*s", (int)(len - sizeof suffix + 1 - sizeof prefix + 1),
                 a->name + sizeof prefix - 1);
        char bname[600];
        snprintf(bname, sizeof bname, "%s%s.lora_B.weight", prefix, m->name);
        m->a = a, m->b = ar_safetensors_find(st, bname);
        if (!m->b || a->ndim != 2 || m->b->ndim != 2 || m->b->shape[1] != a->shape[0]) {
            fprintf(stderr, "adarank-cl: eval: adapter module %s: lora_B missing or of the "
                            "wrong shape\n",
                    m->name);
            return CLI_EXIT_BAD_INPUT;
        }
        m->scale = module_scale(cfg, m->name, (int)a->shape[0]);
    }
    if (*n == 0) {
        fprintf(stderr, "adarank-cl: eval: the adapter has no lora_A/lora_B tensors\n");
        return CLI_EXIT_BAD_INPUT;
    }
    return CLI_EXIT_OK;
}

/* Writes the adapter's factors and head into the model's parameters. */
static enum ar_status load_weights(struct ar_ctx *ctx, struct ar_model *model,
                                   const struct ar_safetensors *st,
                                   const struct adapter_module *mods, int n, char *err,
                                   size_t err_size)
{
    struct ar_arena *arena = ar_model_arena(model);
    enum ar_status st_ = AR_STATUS_OK;
    for (int i = 0; i < ar_model_module_count(model) && st_ == AR_STATUS_OK; i++) {
        const struct ar_model_module *mm = ar_model_module(model, i);
        const struct adapter_module *am = NULL;
        for (int k = 0; k < n && !am; k++)
            am = !strcmp(mods[k].name, mm->name) ? &mods[k] : NULL;
        size_t R = (size_t)mm->rank, in = (size_t)mm->in, out = (size_t)mm->out;
        float *a = calloc(R * in, sizeof *a), *b = calloc(out * R, sizeof *b);
        if (!a || !b) {
            free(a), free(b);
            return AR_STATUS_OUT_OF_MEMORY;
        }
        if (am) {
            size_t r = (size_t)am->a->shape[0];
            float *ta = malloc(r * in * sizeof *ta), *tb = malloc(out * r * sizeof *tb);
            st_ = ta && tb && am->a->shape[1] == (int64_t)in && am->b->shape[0] == (int64_t)out
                      ? AR_STATUS_OK
                      : AR_STATUS_SHAPE_MISMATCH;
            if (st_ == AR_STATUS_OK)
                st_ = ar_safetensors_read_f32(am->a, ta, r * in, err, err_size);
            if (st_ == AR_STATUS_OK)
                st_ = ar_safetensors_read_f32(am->b, tb, out * r, err, err_size);
            if (st_ == AR_STATUS_OK) {
                memcpy(a, ta, r * in * sizeof *a);
                double fold = am->scale / mm->scale; /* the engine applies mm->scale */
                for (size_t o = 0; o < out; o++)
                    for (size_t j = 0; j < r; j++)
                        b[o * R + j] = (float)(tb[o * r + j] * fold);
            } else if (st_ == AR_STATUS_SHAPE_MISMATCH) {
                snprintf(err, err_size, "adapter module %s does not fit the model's %zux%zu",
                         am->name, out, in);
            }
            free(ta), free(tb);
        }
        if (st_ == AR_STATUS_OK)
            st_ = ar_mem_write(ctx, ar_mem_at(arena->param, mm->a_off), a, R * in);
        if (st_ == AR_STATUS_OK)
            st_ = ar_mem_write(ctx, ar_mem_at(arena->param, mm->b_off), b, out * R);
        free(a), free(b);
    }
    for (size_t i = 0; st_ == AR_STATUS_OK && i < ar_arena_layout_count(arena->layout); i++) {
        const struct ar_arena_slice *s = ar_arena_layout_slice(arena->layout, i);
        char name[300];
        snprintf(name, sizeof name, "base_model.model.%s", s->name);
        const struct ar_st_tensor *t = ar_safetensors_find(st, name);
        if (!strncmp(s->name, "classifier.", 11) && !t) {
            snprintf(err, err_size, "the adapter has no %s (the trained head)", name);
            return AR_STATUS_BAD_FORMAT;
        }
        if (!t)
            continue;
        float *data = malloc(s->count * sizeof *data);
        if (!data)
            return AR_STATUS_OUT_OF_MEMORY;
        st_ = ar_safetensors_read_f32(t, data, s->count, err, err_size);
        if (st_ == AR_STATUS_OK)
            st_ = ar_mem_write(ctx, ar_arena_view(s, arena->param), data, s->count);
        free(data);
    }
    return st_;
}

/* Class names, max length and column names from the run's config.json next to the adapter. */
static void run_defaults(const char *adapter, struct ar_train_config *run, bool *have)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/../config.json", adapter);
    char err[512];
    ar_train_config_init(run);
    *have = ar_train_config_load(run, path, err, sizeof err) == AR_STATUS_OK;
}

static int parse(int argc, char **argv, struct eval_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(o, "--json")) {
            a->json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "adarank-cl: eval: %s needs a value (see --help)\n", o);
            return CLI_EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (!strcmp(o, "--model"))
            a->model = v;
        else if (!strcmp(o, "--adapter"))
            a->adapter = v;
        else if (!strcmp(o, "--data"))
            a->data = v;
        else if (!strcmp(o, "--device"))
            a->device = v;
        else if (!strcmp(o, "--labels"))
            a->labels = v;
        else if (!strcmp(o, "--max-length") && (a->max_length = atoi(v)) >= 2)
            continue;
        else if (!strcmp(o, "--batch") && (a->batch = atoi(v)) >= 1)
            continue;
        else {
            fprintf(stderr, "adarank-cl: eval: bad option %s %s (see --help)\n", o, v);
            return CLI_EXIT_USAGE;
        }
    }
    if (!a->model || !a->adapter || !a->data) {
        fprintf(stderr, "adarank-cl: eval: --model, --adapter and --data are required\n");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

struct eval_state {
    struct ar_train_config run;
    bool have_run;
    struct ar__json_doc *cfg;
    struct ar_safetensors *st;
    struct adapter_module *mods;
    int n_mods;
    struct ar_tokenizer *tok;
    struct ar_dataset *ds;
    struct ar_encoded *set;
    struct ar_ctx *ctx;
    struct ar_model *model;
};

/* Adapter files, tokenizer and data: everything that needs no device. */
static int load_inputs(const struct eval_args *a, struct eval_state *s, int max_length)
{
    char path[4096], err[2048];
    snprintf(path, sizeof path, "%s/adapter_config.json", a->adapter);
    if (!(s->cfg = ar__json_parse_file(path, err, sizeof err))) {
        fprintf(stderr, "adarank-cl: eval: %s\n", err);
        return CLI_EXIT_BAD_INPUT;
    }
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", a->adapter);
    enum ar_status st = ar_safetensors_open(path, &s->st, err, sizeof err);
    int rc = st == AR_STATUS_OK ? list_modules(s->st, ar__json_root(s->cfg), &s->mods, &s->n_mods)
                                : CLI_EXIT_BAD_INPUT;
    if (st != AR_STATUS_OK)
        fprintf(stderr, "adarank-cl: eval: %s\n", err);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/tokenizer.json", a->model);
    if ((st = ar_tokenizer_load(path, &s->tok, err, sizeof err)) != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: eval: %s\n", err);
        return cli_exit_for_status(st);
    }
    struct ar_train_config labels_cfg;
    ar_train_config_init(&labels_cfg);
    if (a->labels)
        ar_train_config_set(&labels_cfg, "labels", a->labels, err, sizeof err);
    const struct ar_train_config *lc = a->labels ? &labels_cfg : &s->run;
    struct ar_dataset_params p = ar_dataset_default_params();
    p.labels = (const char *const *)lc->labels, p.label_count = lc->label_count;
    if (s->have_run)
        p.text_column = s->run.text_column, p.text_b_column = s->run.text_b_column,
        p.label_column = s->run.label_column;
    st = ar_dataset_read(a->data, &p, &s->ds, err, sizeof err);
    ar_train_config_clear(&labels_cfg);
    if (st == AR_STATUS_OK)
        st = ar_dataset_encode(s->ds, ar_dataset_tokenizer_encode, s->tok, max_length, &s->set,
                               err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: eval: %s\n", err);
        return cli_exit_for_status(st);
    }
    return CLI_EXIT_OK;
}

static int load_model(const struct eval_args *a, struct eval_state *s, int max_length)
{
    const struct ar_st_tensor *head =
        ar_safetensors_find(s->st, "base_model.model.classifier.weight");
    if (!head)
        head = ar_safetensors_find(s->st, "base_model.model.classifier.out_proj.weight");
    if (!head || head->ndim != 2) {
        fprintf(stderr, "adarank-cl: eval: the adapter has no classifier head\n");
        return CLI_EXIT_BAD_INPUT;
    }
    /* the targets are the adapter's full module paths, so exactly those are adapted */
    size_t len = 1;
    int rank = 1;
    for (int i = 0; i < s->n_mods; i++) {
        len += strlen(s->mods[i].name) + 1;
        rank = (int)s->mods[i].a->shape[0] > rank ? (int)s->mods[i].a->shape[0] : rank;
    }
    char *targets = calloc(len, 1);
    for (int i = 0; targets && i < s->n_mods; i++)
        strcat(strcat(targets, i ? "," : ""), s->mods[i].name);
    int rc = CLI_EXIT_OK;
    if (!(s->ctx = cli_open_context(a->device, &rc))) {
        free(targets);
        return rc;
    }
    struct ar_model_options o = ar_model_default_options();
    o.num_labels = (int)head->shape[0];
    o.target_modules = targets;
    o.rank = rank;
    o.lora_alpha = (float)rank; /* engine scale 1: the adapter's scales are folded into B */
    o.max_batch = a->batch;
    o.max_time = max_length;
    enum ar_status st = ar_model_load(s->ctx, a->model, &o, &s->model);
    free(targets);
    if (st != AR_STATUS_OK)
        return cli_report(s->ctx, st, "loading the model");
    char err[1024];
    st = load_weights(s->ctx, s->model, s->st, s->mods, s->n_mods, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: eval: %s: %s\n", a->adapter, err);
        return cli_exit_for_status(st);
    }
    if (s->set->num_labels != o.num_labels) {
        fprintf(stderr, "adarank-cl: eval: the data has %d classes, the adapter's head %d "
                        "(give --labels)\n",
                s->set->num_labels, o.num_labels);
        return CLI_EXIT_BAD_INPUT;
    }
    return CLI_EXIT_OK;
}

int cli_eval(int argc, char **argv)
{
    struct eval_args a = {.batch = 64};
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    struct eval_state s = {0};
    run_defaults(a.adapter, &s.run, &s.have_run);
    int max_length = a.max_length ? a.max_length : s.have_run ? s.run.max_length : 128;
    rc = load_inputs(&a, &s, max_length);
    if (!rc)
        rc = load_model(&a, &s, max_length);
    if (!rc) {
        int32_t pad = ar_tokenizer_pad_id(s.tok);
        struct ar_eval_result r;
        enum ar_status st = ar_evaluate(s.ctx, s.model, s.set, a.batch, pad >= 0 ? pad : 0, &r,
                                        NULL);
        if (st != AR_STATUS_OK)
            rc = cli_report(s.ctx, st, "evaluating");
        else if (a.json)
            printf("{\"count\": %d, \"loss\": %.6g, \"accuracy\": %.6g, \"f1\": %.6g, "
                   "\"mcc\": %.6g}\n",
                   r.count, r.loss, r.accuracy, r.macro_f1, r.mcc);
        else
            printf("%s: %d examples: loss %.4f  accuracy %.4f  f1 %.4f  mcc %.4f\n", a.data,
                   r.count, r.loss, r.accuracy, r.macro_f1, r.mcc);
    }
    ar_model_free(s.model);
    ar_ctx_free(s.ctx);
    ar_encoded_free(s.set);
    ar_dataset_free(s.ds);
    ar_tokenizer_free(s.tok);
    free(s.mods);
    ar_safetensors_free(s.st);
    ar__json_free(s.cfg);
    ar_train_config_clear(&s.run);
    return rc;
}
