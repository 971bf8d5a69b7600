#!/usr/bin/env python3
"""Weights move between frechet and PyTorch both ways, and keep their accuracy.

Run by hand, never by CI (see tools/README.md):

    python tools/interop.py [--epochs 15]

1. frechet → PyTorch: trains LeNet-5 with `cargo run --release --example mnist_lenet
   -- --save FILE`, loads FILE into the equivalent torch.nn.Module with
   `load_state_dict(strict=True)`, and checks that PyTorch gets the accuracy the example
   printed on the bundled test digits, and frechet's logits on every one of them.
2. PyTorch → frechet: trains the same LeNet in PyTorch on the bundled training digits
   with the example's recipe (SGD, momentum 0.9, learning rate 0.05 decayed by 0.85
   per epoch, batch 32, 15 epochs), saves it as safetensors, and checks that frechet's
   `LeNet::load_safetensors` gets PyTorch's accuracy and logits.

frechet's side of both checks is a small Rust program that this script writes to a
temporary directory outside the repository (it depends on frechet by path, with the
repository's Cargo.lock, and builds into target/interop); it loads a weights file,
prints the number of test digits it classifies correctly and writes its logits.
"""

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pytorch_modules import LeNet  # noqa: E402  (the module the README shows)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "mnist-10k"

# The helper program: the `network!` declaration of examples/mnist_lenet.rs, read from
# the example itself so that the two cannot drift apart, and a main that evaluates it.
def lenet_declaration():
    text = (ROOT / "examples" / "mnist_lenet.rs").read_text()
    start = text.index("network! {")
    return text[start : text.index("\n}\n", start) + 2]


RUST_MAIN = r"""
use frechet::data::Mnist;
use frechet::prelude::*;

""" + lenet_declaration() + r"""
/// interop <mnist dir> <weights.safetensors> <logits output>: prints `correct N of M`
/// and writes the logits of the test digits as little-endian f32, (M, 10) row-major.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mnist = Mnist::load(&args[1])?;
    let net = LeNet::load_safetensors(&args[2])?;
    let logits = net.forward(mnist.test_images.view());
    let mut correct = 0;
    for (row, &label) in logits.outer_iter().zip(&mnist.test_labels) {
        let predicted = (0..row.len()).fold(0, |best, j| if row[j] > row[best] { j } else { best });
        correct += usize::from(predicted == label);
    }
    let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&args[3], bytes)?;
    println!("correct {correct} of {}", mnist.test_labels.len());
    Ok(())
}
"""


def read_idx(path):
    """An IDX file (gzipped) as a numpy array of its unsigned bytes, with its shape."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {magic:#010x})")
    rank = magic & 0xFF
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {data.size} bytes for shape {shape}")
    return data.reshape(shape)


def load_mnist(prefix):
    """Images (N, 1, 28, 28) in [0, 1] as frechet scales them (float32 byte / 255), and
    labels."""
    images = read_idx(DATA / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(DATA / f"{prefix}-labels-idx1-ubyte.gz")
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255.0)).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def pytorch_logits(model, x):
    with torch.no_grad():
        return model(x)


def accuracy_count(logits, labels):
    return int((logits.argmax(dim=1) == labels).sum())


class FrechetHelper:
    """The Rust program of the module docs, built once."""

    def __init__(self, workdir):
        project = workdir / "frechet-interop"
        (project / "src").mkdir(parents=True)
        (project / "Cargo.toml").write_text(
            "[package]\n"
            'name = "frechet-interop"\n'
            'version = "0.0.0"\n'
            'edition = "2021"\n'
            "publish = false\n\n"
            "[dependencies]\n"
            f'frechet = {{ path = "{ROOT.as_posix()}" }}\n\n'
            "[workspace]\n"
        )
        (project / "src" / "main.rs").write_text(RUST_MAIN)
        shutil.copy(ROOT / "Cargo.lock", project / "Cargo.lock")
        target = ROOT / "target" / "interop"
        print(f"building frechet's side in {project} (target {target}) ...", flush=True)
        subprocess.run(
            ["cargo", "build", "--release", "--quiet", "--manifest-path", str(project / "Cargo.toml")],
            check=True,
            env={**os.environ, "CARGO_TARGET_DIR": str(target)},
        )
        self.binary = target / "release" / "frechet-interop"
        self.workdir = workdir

    def run(self, weights, count):
        """frechet's logits for the test digits and its count of correct answers."""
        out = self.workdir / "logits.f32"
        result = subprocess.run(
            [str(self.binary), str(DATA), str(weights), str(out)],
            check=True,
            capture_output=True,
            text=True,
        )
        match = re.search(r"correct (\d+) of (\d+)", result.stdout)
        assert match and int(match.group(2)) == count, result.stdout
        logits = torch.from_numpy(np.fromfile(out, dtype="<f4").reshape(count, 10))
        return logits, int(match.group(1))


def compare_logits(frechet, pytorch, labels):
    difference = (frechet - pytorch).abs()
    disagree = int((frechet.argmax(1) != pytorch.argmax(1)).sum())
    print(
        f"    logits: max |Δ| {difference.max().item():.3g} "
        f"(the logits reach {pytorch.abs().max().item():.3g}; "
        f"max |Δ| / max |logit| {difference.max().item() / pytorch.abs().max().item():.2e}), "
        f"{disagree} of {len(labels)} predictions differ"
    )
    return difference.max().item(), disagree


def frechet_to_pytorch(helper, workdir, x, labels):
    print("1. frechet → PyTorch", flush=True)
    weights = workdir / "frechet_lenet.safetensors"
    started = time.time()
    result = subprocess.run(
        ["cargo", "run", "--release", "--quiet", "--example", "mnist_lenet", "--", "--save", str(weights)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    printed = re.search(r"^test accuracy: ([0-9.]+)$", result.stdout, re.MULTILINE)
    assert printed, result.stdout[-2000:]
    printed = printed.group(1)
    print(f"    mnist_lenet trained in {time.time() - started:.0f} s and printed `test accuracy: {printed}`")

    model = LeNet()
    state = load_file(str(weights))
    model.load_state_dict(state, strict=True)
    model.eval()
    torch_logits = pytorch_logits(model, x)
    torch_correct = accuracy_count(torch_logits, labels)
    frechet_logits, frechet_correct = helper.run(weights, len(labels))
    n = len(labels)
    print(
        f"    PyTorch with frechet's weights: {torch_correct}/{n} = {torch_correct / n:.4f}; "
        f"frechet: {frechet_correct}/{n} = {frechet_correct / n:.4f}"
    )
    max_diff, disagree = compare_logits(frechet_logits, torch_logits, labels)
    ok = f"{torch_correct / n:.4f}" == printed and torch_correct == frechet_correct
    return ok and disagree == 0, (printed, torch_correct, frechet_correct, max_diff, disagree)


def pytorch_to_frechet(helper, workdir, x, labels, epochs):
    print("2. PyTorch → frechet", flush=True)
    train_x, train_y = load_mnist("train")
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = LeNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.85)
    loss_fn = nn.CrossEntropyLoss()
    started = time.time()
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train_y), generator=generator)
        total = 0.0
        for start in range(0, len(order), 32):
            batch = order[start : start + 32]
            optimizer.zero_grad()
            loss = loss_fn(model(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        scheduler.step()
        model.eval()
        correct = accuracy_count(pytorch_logits(model, x), labels)
        print(
            f"    epoch {epoch:2}/{epochs}  loss {total / len(order):.4f}  "
            f"test accuracy {correct / len(labels):.4f}  ({time.time() - started:.0f} s)",
            flush=True,
        )
    weights = workdir / "pytorch_lenet.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights), metadata={"format": "pt"})
    torch_logits = pytorch_logits(model, x)
    torch_correct = accuracy_count(torch_logits, labels)
    frechet_logits, frechet_correct = helper.run(weights, len(labels))
    n = len(labels)
    print(
        f"    PyTorch: {torch_correct}/{n} = {torch_correct / n:.4f}; "
        f"frechet with PyTorch's weights: {frechet_correct}/{n} = {frechet_correct / n:.4f}"
    )
    max_diff, disagree = compare_logits(frechet_logits, torch_logits, labels)
    return torch_correct == frechet_correct and disagree == 0, (torch_correct, frechet_correct, max_diff, disagree)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15, help="PyTorch's training epochs (15)")
    parser.add_argument("--keep", type=Path, help="keep the weights files in this directory")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    x, labels = load_mnist("t10k")
    with tempfile.TemporaryDirectory(prefix="frechet-interop-") as tmp:
        workdir = Path(tmp)
        helper = FrechetHelper(workdir)
        ok1, _ = frechet_to_pytorch(helper, workdir, x, labels)
        ok2, _ = pytorch_to_frechet(helper, workdir, x, labels, args.epochs)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for name in ("frechet_lenet.safetensors", "pytorch_lenet.safetensors"):
                shutil.copy(workdir / name, args.keep / name)
    print("interop:", "both ways agree" if ok1 and ok2 else "MISMATCH")
    return 0 if ok1 and ok2 else 1


if __name__ == "__main__":
    sys.exit(main())
