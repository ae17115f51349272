/* Shared by the loader fuzz harnesses (tests/fuzz/fuzz_<loader>.c) and by the deterministic
 * driver tests/test_fuzz_regressions.c.
 *
 * Each harness defines `int ar_fuzz_<loader>(const uint8_t *data, size_t size)`: it feeds the
 * bytes to one loader, frees whatever was built and returns 0. The only property checked is the
 * one every loader promises: some status comes back, with no crash, no leak and no undefined
 * behaviour (the sanitizers report those). Built with -DAR_FUZZ_LIBFUZZER, the same file also
 * defines libFuzzer's entry point (see tests/fuzz/README.md). */
#ifndef ADARANK_TESTS_FUZZ_H
#define ADARANK_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int ar_fuzz_json(const uint8_t *data, size_t size);
int ar_fuzz_safetensors(const uint8_t *data, size_t size);
int ar_fuzz_model_config(const uint8_t *data, size_t size);
int ar_fuzz_tokenizer(const uint8_t *data, size_t size);
int ar_fuzz_tokenizer_encode(const uint8_t *data, size_t size);
int ar_fuzz_dataset(const uint8_t *data, size_t size);
int ar_fuzz_metrics(const uint8_t *data, size_t size);
int ar_fuzz_train_config(const uint8_t *data, size_t size);
int ar_fuzz_tuning(const uint8_t *data, size_t size);
int ar_fuzz_dataset_tokens(const uint8_t *data, size_t size);
int ar_fuzz_dataset_lm(const uint8_t *data, size_t size);
int ar_fuzz_peft_adapter(const uint8_t *data, size_t size);

/* For the loaders that only take a path: a private folder made once per process (under
 * $TMPDIR, removed at exit) and a file `name` in it holding data[0..size). Returns the path
 * (static storage, valid until the next call) or NULL when the file cannot be written. */
const char *ar_fuzz_dir(void);
const char *ar_fuzz_write(const char *name, const void *data, size_t size);

#ifdef AR_FUZZ_LIBFUZZER
#define AR_FUZZ_ENTRY(fn)                                                                          \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                   \
    {                                                                                              \
        return fn(data, size);                                                                     \
    }
#else
#define AR_FUZZ_ENTRY(fn)
#endif

#endif
