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
TARGET=$(mktemp -d)
trap 'rm -rf "$TARGET"; git -C "$ROOT" checkout -q -- examples/mnist_lenet.rs examples/mnist_mlp.rs' EXIT
export CARGO_TARGET_DIR="$TARGET"

seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
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
