#!/usr/bin/env python3
"""The custom-layer example's weights load into PyTorch unchanged.

Run by hand, never by CI (see tools/README.md):

    python tools/custom_layer_interop.py [--epochs 15]

Trains `examples/custom_layer` (a depthwise separable convnet whose depthwise
convolution is written outside the library) with `--save FILE`, loads FILE with
`load_state_dict(strict=True)` into the equivalent torch.nn.Module — the depthwise
convolution is `nn.Conv2d(16, 16, 5, groups=16)` — and checks that PyTorch classifies
the bundled test digits with the accuracy the example printed.
"""

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interop import ROOT, accuracy_count, load_mnist, pytorch_logits  # noqa: E402


class Separable(nn.Module):
    """examples/custom_layer/main.rs's `Separable`, with its layer names."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)
        self.pool1 = nn.MaxPool2d(2)
        self.dw = nn.Conv2d(16, 16, 5, groups=16)
        self.pw = nn.Conv2d(16, 32, 1)
        self.pool2 = nn.MaxPool2d(2)
        self.flat = nn.Flatten()
        self.fc1 = nn.Linear(512, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool1(torch.relu(self.conv1(x)))
        x = self.pool2(torch.relu(self.pw(self.dw(x))))
        return self.fc2(torch.relu(self.fc1(self.flat(x))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        weights = Path(workdir) / "separable.safetensors"
        command = ["cargo", "run", "--release", "--quiet", "--example", "custom_layer", "--"]
        command += ["--epochs", str(args.epochs), "--save", str(weights)]
        output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
        printed = float(re.search(r"test accuracy: ([0-9.]+)", output.stdout).group(1))
        model = Separable()
        model.load_state_dict(load_file(weights), strict=True)
    x, labels = load_mnist("t10k")
    correct = accuracy_count(pytorch_logits(model, x), labels)
    accuracy = correct / len(labels)
    print(f"frechet printed test accuracy {printed:.4f}; PyTorch, with its weights: {accuracy:.4f}")
    if abs(accuracy - printed) > 0.5 / len(labels):
        sys.exit("the accuracies differ")


if __name__ == "__main__":
    main()
