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
    build-essential pkg-config meson ninja-build python3
    ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
    libclblast-dev clblast-utils
    libopenblas-dev
    libcairo2-dev libgtk-4-dev
    xvfb xauth
)

install_packages() {
    local missing=()
    for p in "${packages[@]}"; do
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

build_project() {
    if [ -f "$build/build.ninja" ]; then
        meson setup --reconfigure "$build" >/dev/null
    else
        meson setup "$build" >/dev/null
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
    "$cli" bench gemm --quick
    "$cli" bench lora --quick
}

run_tests() {
    # PoCL is installed above, so no test may skip for want of a device.
    export ADARANK_REQUIRE_DEVICE=1
    local rc=0
    meson test -C "$build" --print-errorlogs --num-processes 2 || rc=$?
    python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): passed += 1
    elif r == "SKIP": skipped += 1
    else: failed += 1
print(f"meson: {passed} passed, {failed} failed, {skipped} skipped")
PY
    return $rc
}

case "${1:-}" in
run)
    install_packages
    check_device
    build_project
    run_main_job
    ;;
test)
    install_packages
    check_device
    build_project
    run_tests
    ;;
deps)
    install_packages
    ;;
*)
    echo "usage: $0 run|test|deps" >&2
    exit 2
    ;;
esac
