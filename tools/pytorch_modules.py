#!/usr/bin/env python3
"""The PyTorch modules that load frechet's MLP and LeNet files with strict=True.

The README shows these two modules; this script checks that they load what the
examples save, and that PyTorch then gives the same classes as frechet. Run by hand
(it needs torch and safetensors, see tools/README.md):

    python tools/pytorch_modules.py

It trains each example for one epoch with `--save`, loads the file into the module
with `load_state_dict(..., strict=True)`, and compares PyTorch's predictions on the
bundled test digits with the accuracy frechet printed.
"""

import gzip
import re
import subprocess
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

ROOT = Path(__file__).resolve().parent.parent

# The perceptron of examples/mnist_mlp.rs: an nn.Sequential built from an OrderedDict, so
# that its keys are fc1.weight, ... (a plain nn.Sequential would name them 0.weight).
def mlp():
    return nn.Sequential(
        OrderedDict(fc1=nn.Linear(784, 128), relu=nn.ReLU(), fc2=nn.Linear(128, 10))
    )


# LeNet-5 of examples/mnist_lenet.rs: attributes named like the layers.
class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.pool1 = nn.Conv2d(1, 6, 5), nn.MaxPool2d(2)
        self.conv2, self.pool2 = nn.Conv2d(6, 16, 5), nn.MaxPool2d(2)
        self.flat = nn.Flatten()
        self.fc1, self.fc2, self.fc3 = nn.Linear(256, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool1(torch.relu(self.conv1(x)))
        x = self.flat(self.pool2(torch.relu(self.conv2(x))))
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def read_idx(path):
    data = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims)


def test_digits():
    data = ROOT / "data" / "mnist-10k"
    find = lambda stem: next(p for p in data.iterdir() if p.name.startswith(stem))
    images = read_idx(find("t10k-images")).astype(np.float32) / 255.0
    labels = read_idx(find("t10k-labels")).astype(np.int64)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


def main():
    images, labels = test_digits()
    with tempfile.TemporaryDirectory() as work:
        for example, model, x in [
            ("mnist_mlp", mlp(), images.reshape(len(images), 784)),
            ("mnist_lenet", LeNet(), images),
        ]:
            path = Path(work) / f"{example}.safetensors"
            out = subprocess.run(
                ["cargo", "run", "--release", "--quiet", "--example", example, "--",
                 "--epochs", "1", "--save", str(path)],
                cwd=ROOT, check=True, capture_output=True, text=True,
            ).stdout
            frechet = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
            model.load_state_dict(load_file(path), strict=True)
            model.eval()
            with torch.no_grad():
                pytorch = (model(x).argmax(1) == labels).float().mean().item()
            print(f"{example}: strict load ok; test accuracy frechet {frechet:.4f}, PyTorch {pytorch:.4f}")
            if abs(frechet - pytorch) > 1e-3:
                sys.exit(f"{example}: the accuracies differ")


if __name__ == "__main__":
    main()
