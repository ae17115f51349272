/* The C side of the PEFT round trip (tests/test_peft_roundtrip.sh runs it, then, when peft,
 * transformers and torch are installed, tests/peft/roundtrip.py on what it leaves):
 *
 *   1. the tiny BERT fixture with LoRA on query and value, a rank pattern {4, 2, 0, 3} at PEFT's
 *      per-module scale α/r_i (what AutoLoRA's retraining exports), random A, B and head;
 *   2. its logits on 8 padded toy examples;
 *   3. the adapter exported with ar_method_export_module + ar_peft_export (as `train` does);
 *   4. ar_peft_merge into a plain model folder, loaded back with ar_model_load: its logits must
 *      equal those of step 2 within the tolerance policy;
 *   5. OUT_DIR/roundtrip.json: token ids, attention mask and the logits of step 2, for Python.
 *
 * usage: test_peft_roundtrip [OUT_DIR]   (default: a test_tmpdir folder, removed at exit) */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adarank/peft_merge.h"
#include "method_toy.h"
#include "peft_check.h"

#define RANK 4
#define ALPHA 8.0f
#define N 8 /* examples */
#define K 3 /* classes */

static const int pattern[4] = {4, 2, 0, 3}; /* q0 v0 q1 v1; q1 has no adapter */

static void write_json(const char *path, const struct ar_encoded *set, const float *logits)
{
    int rows[N] = {0, 1, 2, 3, 4, 5, 6, 7};
    struct ar_padded_batch pb = {0};
    if (ar_padded_batch_fill(&pb, set, rows, N, 0) != AR_STATUS_OK)
        return;
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "%s: cannot write", path);
    if (!f)
        return;
    fprintf(f, "{\"input_ids\": [");
    for (int b = 0; b < pb.batch; b++) {
        fprintf(f, "%s[", b ? ", " : "");
        for (int t = 0; t < pb.time; t++)
            fprintf(f, "%s%d", t ? ", " : "", pb.ids[b * pb.time + t]);
        fprintf(f, "]");
    }
    fprintf(f, "],\n \"attention_mask\": [");
    for (int b = 0; b < pb.batch; b++) {
        fprintf(f, "%s[", b ? ", " : "");
        for (int t = 0; t < pb.time; t++)
            fprintf(f, "%s%d", t ? ", " : "", pb.attn_mask[b * pb.time + t] != 0);
        fprintf(f, "]");
    }
    fprintf(f, "],\n \"logits\": [");
    for (int b = 0; b < N; b++) {
        fprintf(f, "%s[", b ? ", " : "");
        for (int k = 0; k < K; k++)
            fprintf(f, "%s%.9g", k ? ", " : "", logits[b * K + k]);
        fprintf(f, "]");
    }
    fprintf(f, "]}\n");
    fclose(f);
    ar_padded_batch_free(&pb);
}

int main(int argc, char **argv)
{
    char out[1024], adapter[1200], merged[1200], err[2048];
    if (argc > 1) {
        snprintf(out, sizeof out, "%s", argv[1]);
        mkdir(out, 0777);
    } else {
        const char *dir = test_tmpdir("peft-roundtrip");
        if (!dir)
            return 1;
        snprintf(out, sizeof out, "%s", dir);
    }
    snprintf(adapter, sizeof adapter, "%s/adapter", out);
    snprintf(merged, sizeof merged, "%s/merged", out);
    struct ar_ctx *ctx = test_open_ctx();
    struct ar_model *model = toy_model(ctx, RANK, ALPHA);
    if (!model)
        return test_finish("peft_roundtrip");
    peft_check_randomize(ctx, model, 5);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_LORA);
    p.lora.ranks = pattern;
    p.lora.scale_by_rank = true;
    struct ar_method *method = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 1, &method));
    struct ar_encoded *set = toy_set(N, 11);
    float logits[N * K], back[N * K];
    toy_logits(ctx, model, set, logits);
    CHECK_OK(ctx, ar_method_finish(method));
    peft_check_export(ctx, model, method, toy_model_dir(), pattern, true, adapter);

    /* merged: a plain checkpoint; LoRA on query with B = 0 adds nothing, so the loaded model
     * computes exactly the merged weights and head */
    static const char *const labels[K] = {"L0", "L1", "L2"};
    enum ar_status st = ar_peft_merge(toy_model_dir(), adapter, merged, labels, K, err,
                                      sizeof err);
    CHECK(st == AR_STATUS_OK, "merge: %s", err);
    struct ar_model_options o = ar_model_default_options();
    o.num_labels = K;
    o.target_modules = "query";
    o.rank = 1;
    o.max_batch = N;
    o.max_time = 16;
    struct ar_model *m2 = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, merged, &o, &m2));
    if (m2) {
        toy_logits(ctx, m2, set, back);
        double ref[N * K];
        for (int i = 0; i < N * K; i++)
            ref[i] = logits[i];
        /* the merge moves the adapter's r-term sum into the base weight's in-term dot product:
         * the chain of every logit is the model's (hidden 72, 2 layers) plus the head */
        CHECK_CLOSE("merged model vs base + adapter logits", ref, back, N * K, 72 * 4 + 100);
        double diff = 0;
        for (int i = 0; i < N * K; i++)
            diff = fmax(diff, fabs(ref[i] - back[i]));
        printf("merged vs adapter: max |logit difference| %.3g\n", diff);
    }
    /* a wrong base is refused with a message */
    st = ar_peft_merge("/nonexistent", adapter, merged, NULL, 0, err, sizeof err);
    CHECK(st != AR_STATUS_OK && strstr(err, "nonexistent"), "bad base: %s", err);
    st = ar_peft_merge(toy_model_dir(), "/nonexistent", merged, NULL, 0, err, sizeof err);
    CHECK(st != AR_STATUS_OK && strstr(err, "nonexistent"), "bad adapter: %s", err);

    char json[1300];
    snprintf(json, sizeof json, "%s/roundtrip.json", out);
    write_json(json, set, logits);
    printf("files for tests/peft/roundtrip.py: %s (base %s)\n", out, toy_model_dir());
    ar_model_free(m2);
    ar_method_free(method);
    ar_model_free(model);
    ar_encoded_free(set);
    ar_ctx_free(ctx);
    return test_finish("peft_roundtrip");
}
