#!/usr/bin/env bash
# Compile times of the workspace (issue 7, item 6), in a target directory of its own so
# that the build cache of the checkout is neither used nor disturbed:
#
#   tools/compile_time.sh
#
# prints, in seconds:
#   - a clean release build of the libraries (`cargo build --release --workspace`);
#   - then the examples on top of it (`--examples`);
#   - three incremental rebuilds of `mnist_lenet` after a one-line change to the file
#     that declares LeNet with `network!`, and two of `mnist_mlp` for comparison;
#   - the time `network!` takes to expand LeNet, from the macro crate's own test
#     (`time_lenet_expansion`, ignored by default), built without optimisation as cargo
#     builds proc macros: the macro's share of an incremental rebuild.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# The rebuilds edit the two examples and put them back with git: refuse to run over
# uncommitted changes to them, which would be lost.
if ! git diff --quiet -- examples/mnist_lenet.rs examples/mnist_mlp.rs; then
    echo "compile_time.sh: examples/mnist_lenet.rs or mnist_mlp.rs has uncommitted changes" >&2
    exit 1
fi
TARGET=$(mktemp -d)
trap 'rm -rf "$TARGET"; git -C "$ROOT" checkout -q -- examples/mnist_lenet.rs examples/mnist_mlp.rs' EXIT
export CARGO_TARGET_DIR="$TARGET"

# Seconds a command takes; a failing command stops the script with its output.
seconds() {
    local start end log
    log=$(mktemp)
    start=$(date +%s%N)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        exit 1
    fi
    end=$(date +%s%N)
    rm -f "$log"
    awk -v ns=$((end - start)) 'BEGIN { printf "%.1f", ns / 1e9 }'
}

echo "clean release build, libraries: $(seconds cargo build --release --workspace) s"
echo "then the examples:              $(seconds cargo build --release --workspace --examples) s"
for example in mnist_lenet mnist_lenet mnist_lenet mnist_mlp mnist_mlp; do
    echo "// touched" >>"examples/$example.rs"
    echo "incremental, $example:     $(seconds cargo build --release --example "$example") s"
    git checkout -q -- "examples/$example.rs"
done
# The dev profile: cargo builds proc macros without optimisation unless told otherwise.
cargo test --profile dev -p nn-macros time_lenet_expansion -- --ignored --nocapture 2>&1 |
    grep '^network! expands'
