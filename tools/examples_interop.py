#!/usr/bin/env python3
"""The weights of the examples move between frechet and PyTorch unchanged, both ways.

Run by hand, never by CI (see tools/README.md):

    python tools/examples_interop.py [--epochs 2] [--only custom_layer]

For each of `custom_layer` (a depthwise convolution written outside the library, here
`nn.Conv2d(16, 16, 5, groups=16)`), `mnist_pytorch_example`, `mnist_keras_convnet` and
`mnist_batchnorm_lenet` (dropout; batch normalisation with its running statistics and
`num_batches_tracked`):

1. frechet → PyTorch: trains the example with `--save FILE`, loads FILE into the
   equivalent torch.nn.Module with `load_state_dict(strict=True)`, and checks that
   PyTorch, in `eval()`, classifies the bundled test digits as the example printed.
2. PyTorch → frechet: trains the module in PyTorch (SGD, an epoch), saves its state dict
   as safetensors, and checks that the example run with `--load FILE` classifies the test
   digits as PyTorch does in `eval()`.

The two accuracies may differ by one digit of the 2,000, where float rounding moves a
prediction that sits on the boundary between two classes.
"""

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interop import ROOT, accuracy_count, load_mnist, pytorch_logits  # noqa: E402


class Sequence(nn.Module):
    """Modules named like the frechet layers, applied in order, with an activation
    after those that have one."""

    def __init__(self, layers):
        super().__init__()
        self.order = []
        for name, module, activation in layers:
            setattr(self, name, module)
            self.order.append((name, activation))

    def forward(self, x):
        for name, activation in self.order:
            x = getattr(self, name)(x)
            if activation is not None:
                x = activation(x)
        return x


relu = torch.relu
NETWORKS = {
    "custom_layer": lambda: Sequence([
        ("conv1", nn.Conv2d(1, 16, 5), relu),
        ("pool1", nn.MaxPool2d(2), None),
        ("dw", nn.Conv2d(16, 16, 5, groups=16), None),
        ("pw", nn.Conv2d(16, 32, 1), relu),
        ("pool2", nn.MaxPool2d(2), None),
        ("flat", nn.Flatten(), None),
        ("fc1", nn.Linear(512, 64), relu),
        ("fc2", nn.Linear(64, 10), None),
    ]),
    "mnist_pytorch_example": lambda: Sequence([
        ("conv1", nn.Conv2d(1, 32, 3), relu),
        ("conv2", nn.Conv2d(32, 64, 3), relu),
        ("pool", nn.MaxPool2d(2), None),
        ("drop1", nn.Dropout(0.25), None),
        ("flat", nn.Flatten(), None),
        ("fc1", nn.Linear(9216, 128), relu),
        ("drop2", nn.Dropout(0.5), None),
        ("fc2", nn.Linear(128, 10), None),
    ]),
    "mnist_keras_convnet": lambda: Sequence([
        ("conv1", nn.Conv2d(1, 32, 3), relu),
        ("pool1", nn.MaxPool2d(2), None),
        ("conv2", nn.Conv2d(32, 64, 3), relu),
        ("pool2", nn.MaxPool2d(2), None),
        ("flat", nn.Flatten(), None),
        ("drop", nn.Dropout(0.5), None),
        ("fc", nn.Linear(1600, 10), None),
    ]),
    "mnist_batchnorm_lenet": lambda: Sequence([
        ("conv1", nn.Conv2d(1, 6, 5), None),
        ("bn1", nn.BatchNorm2d(6), relu),
        ("pool1", nn.MaxPool2d(2), None),
        ("conv2", nn.Conv2d(6, 16, 5), None),
        ("bn2", nn.BatchNorm2d(16), relu),
        ("pool2", nn.MaxPool2d(2), None),
        ("flat", nn.Flatten(), None),
        ("fc1", nn.Linear(256, 120), None),
        ("bn3", nn.BatchNorm1d(120), relu),
        ("drop", nn.Dropout(0.25), None),
        ("fc2", nn.Linear(120, 84), relu),
        ("fc3", nn.Linear(84, 10), None),
    ]),
}


def run_example(example, *flags):
    """The example's printed test accuracy."""
    command = ["cargo", "run", "--release", "--quiet", "--example", example, "--", *flags]
    output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return float(re.search(r"test accuracy: ([0-9.]+)", output.stdout).group(1))


def eval_accuracy(model, x, labels):
    model.eval()
    return accuracy_count(pytorch_logits(model, x), labels) / len(labels)


def compare(what, frechet, pytorch, digits):
    print(f"    {what}: frechet {frechet:.4f}, PyTorch {pytorch:.4f}")
    return abs(frechet - pytorch) <= 1.5 / digits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--only")
    args = parser.parse_args()
    torch.manual_seed(0)
    x_test, y_test = load_mnist("t10k")
    x_train, y_train = load_mnist("train")
    ok = True
    for example, make in NETWORKS.items():
        if args.only and args.only != example:
            continue
        print(example)
        with tempfile.TemporaryDirectory() as workdir:
            # frechet → PyTorch.
            path = Path(workdir) / "frechet.safetensors"
            printed = run_example(example, "--epochs", str(args.epochs), "--save", str(path))
            model = make()
            model.load_state_dict(load_file(path), strict=True)
            ok &= compare("frechet's weights", printed, eval_accuracy(model, x_test, y_test), len(y_test))

            # PyTorch → frechet.
            model = make()
            model.train()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
            for start in range(0, len(y_train), 32):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(
                    model(x_train[start : start + 32]), y_train[start : start + 32]
                )
                loss.backward()
                optimizer.step()
            path = Path(workdir) / "pytorch.safetensors"
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
            pytorch = eval_accuracy(model, x_test, y_test)
            ok &= compare("PyTorch's weights", run_example(example, "--load", str(path)), pytorch, len(y_test))
    if not ok:
        sys.exit("the accuracies differ")


if __name__ == "__main__":
    main()
