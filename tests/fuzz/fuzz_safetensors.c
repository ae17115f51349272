/* Fuzzes the safetensors reader (core/safetensors*.c). ar_safetensors_open takes a path: the
 * bytes go to a temporary file. The first byte picks what that file is: a .safetensors file
 * (even), or a model.safetensors.index.json (odd) beside a small valid shard "a.safetensors",
 * so that the index's weight_map can name a real file. Every tensor opened is converted to
 * float32, which reads all its bytes. */
#include "fuzz.h"

#include <adarank/safetensors.h>
#include <adarank/status.h>

#include <stdlib.h>
#include <string.h>

static void write_shard(void)
{
    static int done;
    if (done) return;
    done = 1;
    static const char header[] =
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"y\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[8,12]}}";
    uint8_t file[8 + sizeof header - 1 + 12];
    uint64_t n = sizeof header - 1;
    for (int i = 0; i < 8; i++)
        file[i] = (uint8_t)(n >> (8 * i));
    memcpy(file + 8, header, n);
    memset(file + 8 + n, 0x3c, 12);
    (void)ar_fuzz_write("a.safetensors", file, sizeof file);
}

int ar_fuzz_safetensors(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    write_shard();
    const char *name = data[0] & 1 ? "model.safetensors.index.json" : "fuzz.safetensors";
    const char *path = ar_fuzz_write(name, data + 1, size - 1);
    if (!path) return 0;
    char err[512];
    struct ar_safetensors *st = NULL;
    if (ar_safetensors_open(path, &st, err, sizeof err) == AR_STATUS_OK) {
        for (size_t i = 0; i < ar_safetensors_count(st); i++) {
            const struct ar_st_tensor *t = ar_safetensors_at(st, i);
            (void)ar_safetensors_find(st, t->name);
            /* Bounded so that a header claiming a huge tensor costs no memory. */
            if (t->count > (1u << 20)) continue;
            float *out = malloc((t->count ? t->count : 1) * sizeof *out);
            if (out) (void)ar_safetensors_read_f32(t, out, t->count, err, sizeof err);
            free(out);
        }
        (void)ar_safetensors_metadata(st, "format");
    }
    ar_safetensors_free(st);
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_safetensors)
