#!/bin/sh
# `adarank-cl bench` and `adarank-cl tune` end to end: exit codes, the lines scripts read, and the
# path from a tuner's output to a table the next run applies. The real CLBlast tuners take many
# minutes, so the pick-up check runs stand-in tuners that write what CLBlast 1.5.3's write.
# Speed is never asserted. Usage: test_cli_bench.sh PATH/TO/adarank-cl
set -u
cli=${1:?usage: test_cli_bench.sh PATH/TO/adarank-cl}
. "$(dirname "$0")/cli_lib.sh" # cli_tmpdir, ok, bad, expect, has, cli_finish
cli_tmpdir cli-bench

# ---- bench ---------------------------------------------------------------------------------
expect 0 "bench --help" "$cli" bench --help
has "gemm" "bench --help lists gemm"
expect 2 "bench without a benchmark" "$cli" bench
expect 2 "unknown benchmark" "$cli" bench nonsense
has "unknown benchmark" "unknown benchmark message"
expect 2 "bad --repeats" "$cli" bench gemm --repeats 0
expect 0 "bench gemm --help" "$cli" bench gemm --help

expect 0 "bench gemm --quick --repeats 1" "$cli" bench gemm --quick --repeats 1
has "^ratio CLBlast/OpenBLAS" "a ratio line"
has "^CLBlast tuning table: " "the table line"
has "^LoRA x\.A\^T" "the rank-8 LoRA product"

expect 0 "bench gemm --json --no-tuning" "$cli" bench gemm --quick --repeats 1 --json --no-tuning
has '^\{"device_index": [0-9]+, ' "JSON object"
has '"tuning_table": null' "--no-tuning applies no table"
has '"geomean_ratio": ' "JSON ratio"

# ---- tune ----------------------------------------------------------------------------------
expect 0 "tune --help" "$cli" tune --help
has "clblast-utils" "tune --help names the package"
expect 2 "tune: bad --fraction" "$cli" tune --dry-run --fraction 2
expect 2 "tune: unknown kernel" "$cli" tune --dry-run --kernels xgemv

expect 0 "tune --dry-run" "$cli" tune --dry-run --out "$tmp/never"
has "would run .*Xgemm" "dry run shows the Xgemm tuner"
has "clblast_tuner_xgemm -platform [0-9]+ -device [0-9]+ -precision 32 -runs 2\$" "tuner command"
has "clblast_tuner_xgemm_direct " "dry run shows the XgemmDirect tuner"
has "would measure GemmBlocking" "dry run shows the blocking measurement (default --kernels)"
if [ -e "$tmp/never" ]; then bad "dry run wrote $tmp/never"; else ok; fi

mkdir "$tmp/empty"
expect 4 "tune without the tuners" "$cli" tune --tuner-dir "$tmp/empty" --out "$tmp/never"
has "apt-get install clblast-utils" "missing tuner message names the package"

# Stand-in tuners: they record their arguments and write one phase file in the current folder,
# with the device name CLBlast's tuner would write (from `devices --json`, the default device).
# The fastest Xgemm result has a vector width CLBlast cannot build, so `tune` must check it on
# real products, reject it and store the runner-up.
"$cli" devices --json >"$tmp/devices.json"
device=$(grep '"default": true' "$tmp/devices.json" | sed 's/.*"name": "\([^"]*\)".*/\1/')
mkdir "$tmp/bin"
cat >"$tmp/bin/clblast_tuner_xgemm" <<EOF
#!/bin/sh
echo "\$@" > "$tmp/xgemm.args"
cat > clblast_xgemm_1_32.json <<'END'
{
  "kernel_family": "xgemm_1",
  "precision": "32",
  "arg_m": "1024", "arg_n": "1024", "arg_k": "1024",
  "device": "$device",
  "results": [
    {"kernel": "Xgemm", "time": 1.0, "parameters": {"GEMMK": 0,"KREG": 1,"KWG": 32,"KWI": 2,"MDIMA": 8,"MDIMC": 8,"MWG": 64,"NDIMB": 8,"NDIMC": 8,"NWG": 64,"SA": 1,"SB": 1,"STRM": 1,"STRN": 0,"VWM": 3,"VWN": 4,"PRECISION": 32}},
    {"kernel": "Xgemm", "time": 20.5, "parameters": {"GEMMK": 0,"KREG": 1,"KWG": 32,"KWI": 2,"MDIMA": 8,"MDIMC": 8,"MWG": 64,"NDIMB": 8,"NDIMC": 8,"NWG": 64,"SA": 1,"SB": 1,"STRM": 1,"STRN": 0,"VWM": 4,"VWN": 4,"PRECISION": 32}},
    {"kernel": "Xgemm", "time": 99.0, "parameters": {"GEMMK": 0,"KREG": 1,"KWG": 16,"KWI": 2,"MDIMA": 8,"MDIMC": 8,"MWG": 32,"NDIMB": 8,"NDIMC": 8,"NWG": 32,"SA": 0,"SB": 0,"STRM": 0,"STRN": 0,"VWM": 2,"VWN": 2,"PRECISION": 32}}
  ]
}
END
EOF
cat >"$tmp/bin/clblast_tuner_xgemm_direct" <<EOF
#!/bin/sh
cat > clblast_xgemm_direct_1_32.json <<'END'
{
  "kernel_family": "xgemm_direct_1",
  "precision": "32",
  "device": "$device",
  "results": [
    {"kernel": "XgemmDirectTN", "time": 3.0, "parameters": {"WGD": 32,"MDIMCD": 8,"NDIMCD": 8,"MDIMAD": 8,"NDIMBD": 8,"KWID": 2,"VWMD": 4,"VWND": 4,"PADA": 1,"PADB": 1,"PRECISION": 32}}
  ]
}
END
EOF
# The operand helpers' tuners (copy, pad, transpose, padtranspose) write one phase file each,
# named by family without a phase number; each records its arguments.
helper_tuner() { # binary family variant parameters
    cat >"$tmp/bin/$1" <<EOF
#!/bin/sh
echo "\$@" > "$tmp/$2.args"
cat > clblast_$2_32.json <<'END'
{
  "kernel_family": "$2", "precision": "32", "arg_m": "1024", "arg_n": "1024",
  "device": "$device",
  "results": [{"kernel": "$3", "time": 0.5, "parameters": {$4, "PRECISION": 32}}]
}
END
EOF
    chmod +x "$tmp/bin/$1"
}
helper_tuner clblast_tuner_copy_fast copy CopyMatrixFast '"COPY_DIMX": 8, "COPY_DIMY": 8, "COPY_VW": 8, "COPY_WPT": 4'
helper_tuner clblast_tuner_copy_pad pad CopyPadMatrix '"PAD_DIMX": 16, "PAD_DIMY": 16, "PAD_WPTX": 1, "PAD_WPTY": 2'
helper_tuner clblast_tuner_transpose_fast transpose TransposeMatrixFast '"TRA_DIM": 16, "TRA_PAD": 1, "TRA_SHUFFLE": 0, "TRA_WPT": 4'
helper_tuner clblast_tuner_transpose_pad padtranspose TransposePadMatrix '"PADTRA_PAD": 1, "PADTRA_TILE": 8, "PADTRA_WPT": 1'
chmod +x "$tmp/bin/clblast_tuner_xgemm" "$tmp/bin/clblast_tuner_xgemm_direct"

expect 0 "tune with stand-in tuners" "$cli" tune --tuner-dir "$tmp/bin" --out "$tmp/tables" --fraction 0.25
has "configuration #1 by speed rejected" "the fastest (VWM=3 cannot build) is rejected"
has "stored $tmp/tables/.*-xgemm\.json \(Xgemm" "Xgemm table stored"
if grep -q '"VWM":4' "$tmp/tables/"*-xgemm.json; then ok; else bad "the runner-up should be stored"; fi
has "stored $tmp/tables/.*-xgemmdirect\.json \(XgemmDirect" "XgemmDirect table stored"
for k in copy:Copy pad:Pad transpose:Transpose padtranspose:Padtranspose; do
    has "stored $tmp/tables/.*-${k%%:*}\.json \(${k#*:}" "${k#*:} table stored (default --kernels)"
done
if grep -q '"TRA_WPT":4' "$tmp/tables/"*-transpose.json; then ok; else bad "Transpose table lacks the tuner's best"; fi
has "a new context on .* now applies: .*$tmp/tables/" "the next context picks the tables up"
# blocking (default --kernels) times ar_gemm itself, with the tables just stored: whatever width
# this machine's timings pick (0 when blocking does not help), the table is well-formed, the
# next context applies it, and the products it blocks passed ar_gemm_self_check first.
has "stored $tmp/tables/.*-gemmblocking\.json \(GemmBlocking, measured\)" "GemmBlocking table stored"
has "now applies: .*-gemmblocking\.json" "the GemmBlocking table is picked up"
if grep -Eq '"N_BLOCK":(0|256|384|512),"MIN_NK":[0-9]+' "$tmp/tables/"*-gemmblocking.json; then ok
else bad "GemmBlocking table: $(cat "$tmp/tables/"*-gemmblocking.json)"; fi
if grep -Eq -- "-fraction 4( |\$)" "$tmp/xgemm.args"; then ok; else bad "--fraction 0.25 should pass -fraction 4: $(cat "$tmp/xgemm.args")"; fi
if ls -a "$tmp/tables" | grep -q '\.tmp\.'; then bad "temporary file left behind"; else ok; fi

# The stored tables are what a later bench run applies, and its products stay correct (bench
# gemm fails when CLBlast and OpenBLAS disagree).
expect 0 "bench with the stored tables" env ADARANK_TUNING_DIR="$tmp/tables" "$cli" bench gemm --quick --repeats 1
has "^CLBlast tuning table: .*$tmp/tables/.*-xgemm\.json" "bench reports the stored table"

# devices --check runs ar_gemm_self_check on every device with the tables it gets: the shipped
# ones pass; a GEMMK=1 Xgemm table that is wrong on PoCL's haswell target (see
# test_gemm_self_check.c), with every product routed to it, fails with exit 4 and a message.
expect 0 "devices --check" "$cli" devices --check
has "matrix products correct \(CLBlast tables: " "devices --check: the verdict and the tables"
case "$device" in
pthread-haswell-*)
    mkdir "$tmp/broken"
    cat >"$tmp/broken/xgemm.json" <<EOF
{"device_name": "$device", "kernel": "Xgemm", "precision": 32, "parameters": {"GEMMK": 1, "KREG": 8,
 "KWG": 1, "KWI": 1, "MDIMA": 8, "MDIMC": 8, "MWG": 64, "NDIMB": 4, "NDIMC": 4, "NWG": 32, "SA": 0,
 "SB": 0, "STRM": 0, "STRN": 0, "VWM": 8, "VWN": 1}}
EOF
    printf '{"device_name": "%s", "kernel": "GemmRoutine", "precision": 32, "parameters": {"XGEMM_MIN_INDIRECT_SIZE": 0}}\n' \
        "$device" >"$tmp/broken/route.json"
    expect 4 "devices --check with a broken table" env ADARANK_TUNING_DIR="$tmp/broken" "$cli" devices --check
    has "adarank-cl devices: \[[0-9]+\] .*CLBlast computes a wrong" "devices --check: names the wrong product"
    ;;
esac

# A helper tuner takes a matrix size, never -k (it has no inner dimension).
expect 0 "tune one helper at --size 256" "$cli" tune --tuner-dir "$tmp/bin" --out "$tmp/tables2" --kernels transpose --size 256
if grep -Eq -- "-m 256 -n 256( |\$)" "$tmp/transpose.args" && ! grep -q -- "-k" "$tmp/transpose.args"; then ok
else bad "transpose tuner arguments: $(cat "$tmp/transpose.args")"; fi

# --import converts files a tuner wrote earlier.
mkdir "$tmp/old"
(cd "$tmp/old" && "$tmp/bin/clblast_tuner_xgemm")
expect 0 "tune --import" "$cli" tune --import "$tmp/old" --kernels xgemm --out "$tmp/imported"
has "stored $tmp/imported/" "imported table stored"
expect 3 "tune --import without tuner output" "$cli" tune --import "$tmp/empty" --kernels xgemm --out "$tmp/imported"

cli_finish cli_bench
