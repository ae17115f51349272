#!/bin/sh
# Regenerates data/screenshots/*.png, the pictures of each view the README shows, from the
# recorded runs (tests/fixtures/run_sora, tests/gui/run_flexora) with the app's own screenshot
# hook. Usage: gui/screenshots.sh [BUILD_DIR]   (needs xvfb-run; run from anywhere)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
gui=$build/gui/adarank-gui
out=$root/data/screenshots
mkdir -p "$out"
shot() { # name run_dir page [extra options]
    name=$1 dir=$2 page=$3
    shift 3
    GSK_RENDERER=cairo xvfb-run -a -s '-screen 0 1600x1200x24' "$gui" --attach "$dir" \
        --page "$page" --size 1200x800 --screenshot "$out/$name.png" --quit-after-draw \
        --timeout 60 "$@" 2>/dev/null
    echo "$out/$name.png"
}
sora=$root/tests/fixtures/run_sora
shot ranks "$sora" ranks
shot ranks-dark "$sora" ranks --dark
shot sparsity "$sora" sparsity
shot layers "$root/tests/gui/run_flexora" flexora
shot curves "$sora" loss
shot summary "$sora" summary
shot new-run "$sora" ranks --new-run
