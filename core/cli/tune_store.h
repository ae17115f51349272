/* `adarank-cl tune`: storing a tuner's results as a checked adarank table (tune_store.c). */
#ifndef ADARANK_CLI_TUNE_STORE_H
#define ADARANK_CLI_TUNE_STORE_H

#include "cli.h"

/* Converts the clblast_<key>_*.json phase files that `binary` wrote into from_dir into one table,
 * walking down the speed ranking until a configuration computes correct products on `dev`, and
 * writes it to out_dir/<device>-<kernel>.json; prints where. `imported`: the files come from
 * --import (a missing file is then bad input, not a device failure). Returns a CLI exit code. */
int tune_store_table(const char *binary, const char *key, bool imported, const char *from_dir,
                     const struct ar_device_info *dev, const char *out_dir);

/* Writes json as out_dir/<device>-<kernel>.json (atomically) and prints where, with `what`
 * saying where the table came from. Returns a CLI exit code. */
int tune_write_table(const struct ar_device_info *dev, const char *kernel, const char *json,
                     const char *out_dir, const char *what);

/* `tune --kernels blocking` (tune_blocking.c): times ar_gemm on the device, with the tables in
 * out_dir applied, at several column-block widths, and stores the GemmBlocking table that the
 * measurements support (N_BLOCK 0 when blocking does not help). Returns a CLI exit code. */
int tune_blocking(const struct ar_device_info *dev, const char *out_dir, bool dry_run);

/* Removes the files of a flat temporary folder, then the folder. */
void tune_remove_folder(const char *dir);

#endif
