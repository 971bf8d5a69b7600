#!/usr/bin/env bash
# Data-parallel training over MPI (issue 20): installs Open MPI and libclang from
# Debian's packages where they are missing, lints and documents the `mpi` feature, runs
# the data-parallel tests (which start `mpirun -np 2` and `-np 3` themselves) and the
# mnist_data_parallel example under `mpirun -np 2`, which must end with its ranks
# agreeing and a test accuracy of at least 0.97. CI runs this after the README's test
# command. The tests and this script expect Open MPI's mpirun.
#
#   tools/mpi.sh            # about 3 minutes once the packages are in
#   RANKS=4 tools/mpi.sh    # the example on 4 ranks (more ranks than cores oversubscribe)
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=${RANKS:-2}

packages=(openmpi-bin libopenmpi-dev libclang-dev)
if ! command -v mpirun >/dev/null || ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
    echo "== installing ${packages[*]}"
    sudo=()
    if [[ $(id -u) != 0 ]]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
fi
mpirun --version | head -n 1

# As root (as in CI), Open MPI refuses to start ranks unless told to; more ranks than
# cores need --oversubscribe.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

echo "== cargo clippy and cargo doc with the mpi feature"
cargo clippy --workspace --all-targets --features mpi -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --features mpi

echo "== cargo test --features mpi --test data_parallel"
cargo test --release --features mpi --test data_parallel -- --test-threads=1 --nocapture

echo "== the mnist_data_parallel example on $RANKS ranks"
cargo build --release --features mpi --example mnist_data_parallel
log=$(mktemp)
trap 'rm -f "$log"' EXIT
RAYON_NUM_THREADS=1 mpirun --oversubscribe -np "$RANKS" \
    "${CARGO_TARGET_DIR:-target}/release/examples/mnist_data_parallel" --timing | tee "$log"
output=$(cat "$log")
agree=$(printf '%s\n' "$output" | tail -n 2 | head -n 1)
last=$(printf '%s\n' "$output" | tail -n 1)
accuracy=${last#test accuracy: }
if [[ $agree != "ranks: $RANKS; weights agree on all ranks"* ]]; then
    echo "mnist_data_parallel: expected 'ranks: $RANKS; weights agree on all ranks', got '$agree'" >&2
    exit 1
fi
if [[ $last != "test accuracy: "* ]] || ! awk -v a="$accuracy" 'BEGIN { exit !(a >= 0.97) }'; then
    echo "mnist_data_parallel: expected a last line 'test accuracy: X' with X >= 0.97, got '$last'" >&2
    exit 1
fi
echo "MPI checks passed"
