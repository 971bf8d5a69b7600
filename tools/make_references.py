#!/usr/bin/env python3
"""PyTorch reference fixtures for tests/reference.rs.

Run by hand, never by CI (see tools/README.md):

    python tools/make_references.py

For each network below it builds the equivalent torch.nn.Module, with attributes
named like the frechet layers so that the state-dict names (`conv1.weight`, ...) are
frechet's tensor names, draws seeded weights (PyTorch's default initialisation, so the
biases are not zero), and writes under tests/fixtures/reference/:

    <net>.weights.safetensors       the weights, loadable by `Net::load_safetensors`
    <net>.batch<N>.safetensors      one batch of N samples and what PyTorch computes
                                    for it (the keys are listed in `write_case`)
    <net>.f64.*.safetensors         the same for the network of float64 (`Net<f64>`),
                                    for the batches in `f64_batches`: everything stored
                                    as float64, PyTorch's float64 autograd and optimizers

Everything is computed in float64 from the float32 weights and inputs (which float64
holds exactly), and stored rounded to float32: the fixtures are the exact answers for
the float32 network as closely as float32 can state them, so what the Rust test
measures is frechet's own rounding error. The same computations are also run in
float32, and the script prints how far PyTorch's own float32 results are from the
float64 ones, with the same error measure as the test: frechet's errors should be of
that size.
"""

import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "reference"

# The optimizer trajectories; tests/reference.rs has the same settings.
SGD_LR, MOMENTUM_LR, MOMENTUM, ADAM_LR, WEIGHT_DECAY = 0.1, 0.05, 0.9, 0.01, 0.05
OPTIMIZERS = {
    "sgd": (f"torch.optim.SGD(lr={SGD_LR})", lambda p: torch.optim.SGD(p, lr=SGD_LR)),
    "momentum": (
        f"torch.optim.SGD(lr={MOMENTUM_LR}, momentum={MOMENTUM})",
        lambda p: torch.optim.SGD(p, lr=MOMENTUM_LR, momentum=MOMENTUM),
    ),
    # Default betas (0.9, 0.999) and eps 1e-8, as frechet's Adam::new.
    "adam": (f"torch.optim.Adam(lr={ADAM_LR})", lambda p: torch.optim.Adam(p, lr=ADAM_LR)),
    # Weight decay: coupled (SGD, Adam) and decoupled (AdamW).
    "momentum_wd": (
        f"torch.optim.SGD(lr={MOMENTUM_LR}, momentum={MOMENTUM}, weight_decay={WEIGHT_DECAY})",
        lambda p: torch.optim.SGD(
            p, lr=MOMENTUM_LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY
        ),
    ),
    "adam_wd": (
        f"torch.optim.Adam(lr={ADAM_LR}, weight_decay={WEIGHT_DECAY})",
        lambda p: torch.optim.Adam(p, lr=ADAM_LR, weight_decay=WEIGHT_DECAY),
    ),
    "adamw": (
        f"torch.optim.AdamW(lr={ADAM_LR}, weight_decay={WEIGHT_DECAY})",
        lambda p: torch.optim.AdamW(p, lr=ADAM_LR, weight_decay=WEIGHT_DECAY),
    ),
}
STEPS = 10
SNAPSHOTS = (1, 10)

# The networks, as their `network!` declarations in tests/reference.rs spell them:
# (layer name, kind, arguments, activation). `None` is no arrow (the identity).
NETWORKS = {
    # Every image layer kind with odd shapes: a non-square input, stride 2 with
    # padding, a max pool whose window does not divide its input (6×5), an average
    # pool with overlapping windows, and a width-1 dense layer in the middle.
    "conv_ce": dict(
        input=[3, 11, 9],
        loss="SoftmaxCrossEntropy",
        batches=[1, 6],
        f64_batches=[6],
        layers=[
            ("conv1", "Conv2d", dict(out=4, kernel=3, stride=2, padding=1), "LeakyReLU(0.1)"),
            ("pool1", "MaxPool2d", dict(kernel=2), None),
            ("conv2", "Conv2d", dict(out=6, kernel=2, padding=1), "Tanh"),
            ("pool2", "AvgPool2d", dict(kernel=2, stride=1), None),
            ("flat", "Flatten", {}, None),
            ("fc1", "Dense", dict(out=7), "ReLU"),
            ("fc2", "Dense", dict(out=1), "Sigmoid"),
            ("fc3", "Dense", dict(out=4), None),
        ],
    ),
    # Regression through convolutions: kernel 4 with stride 2 and padding 2, an average
    # pool with stride 2 that leaves the last column out, a 1×1 convolution to a single
    # channel with an explicit Identity, and a max pool with overlapping windows.
    "conv_mse": dict(
        input=[2, 13, 10],
        loss="MeanSquaredError",
        batches=[1, 4],
        layers=[
            ("conv1", "Conv2d", dict(out=5, kernel=4, stride=2, padding=2), "Sigmoid"),
            ("pool1", "AvgPool2d", dict(kernel=3, stride=2), None),
            ("conv2", "Conv2d", dict(out=1, kernel=1), "Identity"),
            ("conv3", "Conv2d", dict(out=3, kernel=2, padding=1), "ReLU"),
            ("pool2", "MaxPool2d", dict(kernel=2, stride=1), None),
            ("flat", "Flatten", {}, None),
            ("fc1", "Dense", dict(out=5), "Tanh"),
            ("fc2", "Dense", dict(out=3), None),
        ],
    ),
    # Dense layers with every activation, a width-1 layer among them.
    "mlp_ce": dict(
        input=[7],
        loss="SoftmaxCrossEntropy",
        batches=[1, 9],
        layers=[
            ("fc1", "Dense", dict(out=12), "ReLU"),
            ("fc2", "Dense", dict(out=1), "LeakyReLU(0.2)"),
            ("fc3", "Dense", dict(out=6), "Sigmoid"),
            ("fc4", "Dense", dict(out=5), None),
        ],
    ),
    # Regression onto a single output.
    "mlp_mse": dict(
        input=[4],
        loss="MeanSquaredError",
        batches=[1, 3],
        layers=[
            ("fc1", "Dense", dict(out=6), "Tanh"),
            ("fc2", "Dense", dict(out=5), "Identity"),
            ("fc3", "Dense", dict(out=1), None),
        ],
    ),
    # Large enough for the matrix products to take more than one block (a 320-wide
    # dense input, 360 output positions in conv1), in LeNet's pattern.
    "medium": dict(
        input=[3, 18, 20],
        loss="SoftmaxCrossEntropy",
        batches=[5],
        f64_batches=[5],
        layers=[
            ("conv1", "Conv2d", dict(out=8, kernel=5, padding=2), "ReLU"),
            ("pool1", "MaxPool2d", dict(kernel=2), None),
            ("conv2", "Conv2d", dict(out=16, kernel=3, padding=1), "ReLU"),
            ("pool2", "AvgPool2d", dict(kernel=2), None),
            ("flat", "Flatten", {}, None),
            ("fc1", "Dense", dict(out=24), "ReLU"),
            ("fc2", "Dense", dict(out=10), None),
        ],
    ),
    # A layer written outside the library: the depthwise convolution of
    # examples/custom_layer (PyTorch's Conv2d with groups = channels) between built-ins,
    # with a non-square input and an activation on it.
    "separable": dict(
        input=[3, 10, 9],
        loss="SoftmaxCrossEntropy",
        batches=[1, 4],
        f64_batches=[4],
        layers=[
            ("conv1", "Conv2d", dict(out=4, kernel=3, padding=1), "Tanh"),
            ("dw", "DepthwiseConv2d", dict(kernel=3), "ReLU"),
            ("pw", "Conv2d", dict(out=5, kernel=1), "Sigmoid"),
            ("pool", "MaxPool2d", dict(kernel=2), None),
            ("flat", "Flatten", {}, None),
            ("fc1", "Dense", dict(out=6), "LeakyReLU(0.1)"),
            ("fc2", "Dense", dict(out=3), None),
        ],
    ),
    # Dropout on an image with a mask drawn here and given to frechet (`mask.<layer>` in
    # the fixture), and dropout with p = 0 on a vector: training mode for the loss, the
    # gradients and the trajectories (the same mask at every step), evaluation mode for
    # the logits.
    "dropout": dict(
        input=[2, 8, 8],
        loss="SoftmaxCrossEntropy",
        batches=[1, 5],
        f64_batches=[5],
        layers=[
            ("conv1", "Conv2d", dict(out=4, kernel=3), "ReLU"),
            ("pool", "MaxPool2d", dict(kernel=2), None),
            ("drop1", "Dropout", dict(p=0.25), None),
            ("flat", "Flatten", {}, None),
            ("fc1", "Dense", dict(out=10), "ReLU"),
            ("drop2", "Dropout", dict(p=0), None),
            ("fc2", "Dense", dict(out=3), None),
        ],
    ),
    # Batch normalisation of an image's channels and of a vector's features, with
    # activations before and after both (an activation before keeps the bias of the
    # layer before from a zero gradient, whose rounding Adam would amplify), in training mode (batch statistics, the running ones
    # updated at every step of the trajectories) and in evaluation mode for the logits,
    # with running statistics other than the initial ones.
    "batchnorm": dict(
        input=[2, 9, 8],
        loss="SoftmaxCrossEntropy",
        batches=[8, 12],
        f64_batches=[8],
        layers=[
            ("conv1", "Conv2d", dict(out=3, kernel=3), "ReLU"),
            ("bn1", "BatchNorm2d", {}, "Sigmoid"),
            ("pool", "MaxPool2d", dict(kernel=2), None),
            ("flat", "Flatten", {}, None),
            ("fc1", "Dense", dict(out=8), "Tanh"),
            ("bn2", "BatchNorm1d", {}, "LeakyReLU(0.1)"),
            ("fc2", "Dense", dict(out=3), None),
        ],
    ),
    # Multi-label binary classification: three logits per sample, each against a 0 or 1.
    # Last, so that the seeds of the networks before it are unchanged.
    "mlp_bce": dict(
        input=[5],
        loss="BinaryCrossEntropyWithLogits",
        batches=[1, 6],
        layers=[
            ("fc1", "Dense", dict(out=7), "Tanh"),
            ("fc2", "Dense", dict(out=3), None),
        ],
    ),
}


DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def save_file(tensors, path, metadata):
    """Writes a safetensors file whose bytes depend only on its contents: the header's
    tensors and metadata in sorted order (the safetensors package orders the metadata
    differently from run to run). The package reads it back as a check."""
    header = {"__metadata__": dict(sorted(metadata.items()))}
    data = bytearray()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        raw = tensor.numpy().astype(tensor.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [len(data), len(data) + len(raw)],
        }
        data += raw
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format's alignment, padded with spaces
    Path(path).write_bytes(len(encoded).to_bytes(8, "little") + encoded + bytes(data))
    loaded = load_file(path)
    assert loaded.keys() == tensors.keys()
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)


def declaration(spec):
    """The body of the network's `network!` declaration, as tests/reference.rs has it."""
    lines = [f"input: [{', '.join(map(str, spec['input']))}],"]
    for name, kind, args, activation in spec["layers"]:
        if kind == "Flatten":
            call = "Flatten"
        elif kind == "Dense":
            call = f"Dense({args['out']})"
        elif kind == "Conv2d":
            extra = "".join(f", {k} = {args[k]}" for k in ("stride", "padding") if k in args)
            call = f"Conv2d({args['out']}, kernel = {args['kernel']}{extra})"
        elif kind == "DepthwiseConv2d":
            call = f"DepthwiseConv2d({args['kernel']})"
        elif kind == "Dropout":
            call = f"Dropout({args['p']})"
        elif kind.startswith("BatchNorm"):
            call = kind
        else:
            extra = f", stride = {args['stride']}" if "stride" in args else ""
            call = f"{kind}({args['kernel']}{extra})"
        arrow = f" -> {activation}" if activation else ""
        lines.append(f"{name}: {call}{arrow},")
    return "\n".join(lines)


def activation_fn(activation):
    if activation in (None, "Identity"):
        return lambda z: z
    if activation == "ReLU":
        return F.relu
    if activation == "Sigmoid":
        return torch.sigmoid
    if activation == "Tanh":
        return torch.tanh
    if activation.startswith("LeakyReLU("):
        slope = float(activation[len("LeakyReLU(") : -1])
        return lambda z: F.leaky_relu(z, slope)
    raise ValueError(activation)


class FixedDropout(nn.Module):
    """nn.Dropout(p) with a mask set from outside (`mask`, 0 or 1 per element of the
    batch), the same at every training step, so that frechet can be given it too; the
    identity in evaluation, as nn.Dropout."""

    def __init__(self, p):
        super().__init__()
        self.p = p
        self.mask = None

    def forward(self, x):
        if not self.training:
            return x
        # As nn.Dropout: the kept elements times 1/(1 - p).
        return x * (self.mask.to(x.dtype) / (1 - self.p))


class Net(nn.Module):
    """A feedforward network whose submodules carry frechet's layer names."""

    def __init__(self, spec):
        super().__init__()
        self.order = []
        shape = list(spec["input"])
        for name, kind, args, activation in spec["layers"]:
            if kind == "Dense":
                module = nn.Linear(shape[0], args["out"])
            elif kind == "Conv2d":
                module = nn.Conv2d(
                    shape[0],
                    args["out"],
                    args["kernel"],
                    stride=args.get("stride", 1),
                    padding=args.get("padding", 0),
                )
            elif kind == "DepthwiseConv2d":
                module = nn.Conv2d(shape[0], shape[0], args["kernel"], groups=shape[0])
            elif kind == "MaxPool2d":
                module = nn.MaxPool2d(args["kernel"], stride=args.get("stride"))
            elif kind == "AvgPool2d":
                module = nn.AvgPool2d(args["kernel"], stride=args.get("stride"))
            elif kind == "Flatten":
                module = nn.Flatten()
            elif kind == "Dropout":
                module = FixedDropout(args["p"])
            elif kind == "BatchNorm1d":
                module = nn.BatchNorm1d(shape[0])
            elif kind == "BatchNorm2d":
                module = nn.BatchNorm2d(shape[0])
            else:
                raise ValueError(kind)
            setattr(self, name, module)
            self.order.append((name, activation_fn(activation)))
            with torch.no_grad():
                module.eval()
                shape = list(module(torch.zeros([1] + shape)).shape[1:])
                module.train()

    def forward(self, x):
        for name, activation in self.order:
            x = activation(getattr(self, name)(x))
        return x


def sample_shape(model, name, input_shape):
    """The shape of one sample going into layer `name`."""
    x = torch.zeros([1] + input_shape)
    with torch.no_grad():
        for layer, activation in model.order:
            if layer == name:
                return x.shape[1:]
            x = activation(getattr(model, layer)(x))
    raise KeyError(name)


def loss_function(name):
    # Both with reduction="mean", as frechet's losses.
    return {
        "SoftmaxCrossEntropy": nn.CrossEntropyLoss(),
        "MeanSquaredError": nn.MSELoss(),
        "BinaryCrossEntropyWithLogits": nn.BCEWithLogitsLoss(),
    }[name]


# The tolerance of tests/reference.rs: |a − b| ≤ RTOL·|b| + ATOL·S (+ ADAM_SLACK·lr
# for Adam's parameters), S the largest magnitude in the layer's tensors of the same
# quantity (e.g. grad.conv1.weight and grad.conv1.bias), or in the tensor itself for
# logits, loss and losses.
RTOL, ATOL, ADAM_SLACK = 1e-5, 1e-5, 1e-3


def deviations(actual, expected):
    """For each tensor of `expected`: (relative error max|a − b| / S, the largest
    |a − b| / tolerance), measured as tests/reference.rs measures frechet."""
    result = {}
    for key, b in expected.items():
        if key.count(".") >= 2:
            layer = key.rsplit(".", 1)[0] + "."
            scale = max(v.abs().max().item() for k, v in expected.items() if k.startswith(layer))
        else:
            scale = b.abs().max().item()
        a, b = actual[key].double(), b.double()
        adam = key.split(".")[0] in ("adam", "adam_wd", "adamw") and ".step" in key
        slack = ADAM_SLACK * ADAM_LR if adam else 0.0
        diff = (a - b).abs()
        relative = diff.max().item() / scale if scale > 0 else diff.max().item()
        ratio = (diff / (RTOL * b.abs() + ATOL * scale + slack)).max().item()
        result[key] = (relative, ratio)
    return result


def run(model, x, target, loss_fn):
    """Logits, loss and every parameter's gradient, and the optimizer trajectories."""
    out = {}
    model = copy.deepcopy(model)
    # The trajectories start from the model as given: the training-mode pass below
    # updates running statistics, as frechet's `loss_and_grads` does on a copy only.
    start = copy.deepcopy(model)
    model.zero_grad()
    # Logits in evaluation mode, as frechet's `forward`; the loss in training mode, as
    # `loss_and_grads` (the same for networks without dropout).
    model.eval()
    logits = model(x)
    model.train()
    loss = loss_fn(model(x), target)
    loss.backward()
    out["logits"] = logits.detach()
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        # A classifier's class probabilities, as frechet's predict_proba.
        out["probabilities"] = logits.detach().softmax(dim=1)
    out["loss"] = loss.detach()
    for name, p in model.named_parameters():
        out[f"grad.{name}"] = p.grad.detach().clone()
    for optimizer_name, (_, make) in OPTIMIZERS.items():
        trained = copy.deepcopy(start)
        optimizer = make(trained.parameters())
        losses = []
        for step in range(1, STEPS + 1):
            optimizer.zero_grad()
            loss = loss_fn(trained(x), target)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
            if step in SNAPSHOTS:
                for name, p in trained.named_parameters():
                    out[f"{optimizer_name}.step{step}.{name}"] = p.detach().clone()
                # Running statistics and their count, after the step's forward pass.
                for name, b in trained.named_buffers():
                    out[f"{optimizer_name}.step{step}.{name}"] = b.detach().clone()
        out[f"{optimizer_name}.losses"] = torch.stack(losses)
    return out


def write_case(net_name, spec, model, batch, generator, calibration):
    """Writes `<net>.batch<N>.safetensors`:

    input                   the batch, (N, features) or (N, C, H, W), float32
    target                  class indices (int64) or regression targets (float32)
    logits, loss            PyTorch's outputs for the batch and its mean loss
    probabilities           for a classifier, the softmax of the logits
    grad.<param>            the loss's gradient in every parameter
    <opt>.step<k>.<param>   the parameters after k steps of <opt> on this batch
    <opt>.losses            the loss before each of the 10 steps
    """
    x = torch.randn([batch] + spec["input"], generator=generator)
    masks = {}
    for name, module in model.named_children():
        if isinstance(module, FixedDropout):
            shape = [batch] + list(sample_shape(model, name, spec["input"]))
            keep = torch.rand(shape, generator=generator) >= module.p
            module.mask = keep
            masks[f"mask.{name}"] = keep.float()
    # Only the shape of the outputs: in evaluation mode, so that no running statistic
    # moves before the fixture's computations.
    with torch.no_grad():
        outputs = copy.deepcopy(model).eval()(x)
    if spec["loss"] == "SoftmaxCrossEntropy":
        target = torch.randint(0, outputs.shape[1], (batch,), generator=generator)
    elif spec["loss"] == "BinaryCrossEntropyWithLogits":
        target = torch.randint(0, 2, outputs.shape, generator=generator).float()
    else:
        target = torch.randn(outputs.shape, generator=generator)
    loss_fn = loss_function(spec["loss"])

    target64 = target if target.dtype == torch.int64 else target.double()
    exact = run(copy.deepcopy(model).double(), x.double(), target64, loss_fn)
    single = run(model, x, target, loss_fn)
    for key, (relative, ratio) in deviations(single, exact).items():
        group = key.split(".")[0]
        worst = calibration.get(group, (0.0, 0.0))
        calibration[group] = (max(worst[0], relative), max(worst[1], ratio))

    tensors = {"input": x, "target": target, **masks}
    tensors.update(
        {
            key: (value if value.dtype == torch.int64 else value.float()).contiguous()
            for key, value in exact.items()
        }
    )
    metadata = {
        "torch": torch.__version__,
        "network": declaration(spec),
        "loss": spec["loss"],
        "computed_in": "float64 from the float32 weights and input, stored as float32",
        "optimizers": json.dumps({k: v[0] for k, v in OPTIMIZERS.items()}),
        "steps": json.dumps(list(SNAPSHOTS)),
    }
    path = OUT / f"{net_name}.batch{batch}.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    paths = [path]
    if batch in spec.get("f64_batches", []):
        doubled = {k: v if v.dtype == torch.int64 else v.double() for k, v in tensors.items()}
        doubled.update({k: v.contiguous() for k, v in exact.items()})
        metadata = {**metadata, "computed_in": "float64, stored as float64"}
        path = OUT / f"{net_name}.f64.batch{batch}.safetensors"
        save_file(doubled, str(path), metadata=metadata)
        paths.append(path)
    return paths


# The learning-rate schedules, as tests/reference.rs runs them from a base rate of 0.1:
# PyTorch's rate before each of the epochs, and for the plateau the loss after each.
SCHEDULE_EPOCHS = 20
PLATEAU_LOSSES = [1.0, 0.8, 0.8, 0.79995, 0.81, 0.7, 0.7, 0.7, 0.7, 0.69, 0.69, 0.69, 0.69,
                  0.69, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
SCHEDULES = {
    "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    "exponential": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
    "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.001),
    "warmup_cosine": lambda o: torch.optim.lr_scheduler.SequentialLR(
        o,
        [
            torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=3),
            torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.001),
        ],
        milestones=[3],
    ),
    "plateau": lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
        o, factor=0.5, patience=2, threshold=1e-4, min_lr=0.004
    ),
}


def write_schedules():
    """Writes schedules.safetensors: `<schedule>.lrs`, the rate of every epoch (float64),
    and `plateau.losses`, the losses the plateau schedule was stepped with."""
    tensors = {"plateau.losses": torch.tensor(PLATEAU_LOSSES, dtype=torch.float64)}
    for name, make in SCHEDULES.items():
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        scheduler = make(optimizer)
        rates = []
        for epoch in range(SCHEDULE_EPOCHS):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if name == "plateau":
                scheduler.step(PLATEAU_LOSSES[epoch])
            else:
                scheduler.step()
        tensors[f"{name}.lrs"] = torch.tensor(rates, dtype=torch.float64)
    path = OUT / "schedules.safetensors"
    save_file(tensors, str(path), metadata={"torch": torch.__version__, "base_lr": "0.1"})
    return path


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    print(f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    OUT.mkdir(parents=True, exist_ok=True)
    calibration = {}
    total = 0
    for index, (net_name, spec) in enumerate(NETWORKS.items()):
        torch.manual_seed(1000 + index)
        generator = torch.Generator().manual_seed(2000 + index)
        model = Net(spec)
        # Running statistics other than the initial ones, so that loading them and
        # evaluating with them are tested.
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.running_mean.normal_(0.0, 0.2)
                    module.running_var.uniform_(0.5, 1.5)
                    module.num_batches_tracked.fill_(3)
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.normal_(0.0, 0.2)
        weights = {k: v.contiguous() for k, v in model.state_dict().items()}
        assert all(v.abs().min() > 0 for k, v in weights.items() if k.endswith(".bias"))
        path = OUT / f"{net_name}.weights.safetensors"
        save_file(weights, str(path), metadata={"format": "pt", "torch": torch.__version__})
        paths = [path]
        if spec.get("f64_batches"):
            path = OUT / f"{net_name}.f64.weights.safetensors"
            doubled = {k: v if v.dtype == torch.int64 else v.double() for k, v in weights.items()}
            save_file(doubled, str(path), metadata={"format": "pt", "torch": torch.__version__})
            paths.append(path)
        for batch in spec["batches"]:
            paths += write_case(net_name, spec, model, batch, generator, calibration)
        size = sum(p.stat().st_size for p in paths)
        total += size
        params = sum(v.numel() for v in weights.values())
        print(f"{net_name}: {params} parameters, batches {spec['batches']}, {size} bytes")
        print("    " + declaration(spec).replace("\n", "\n    "))
    total += write_schedules().stat().st_size
    print(f"{total} bytes in {OUT.relative_to(ROOT)}")
    print("PyTorch's own float32 results against float64, as tests/reference.rs measures")
    print("frechet's: the largest relative error max|a - b| / S, and max |a - b| / tolerance")
    for group, (relative, ratio) in calibration.items():
        print(f"    {group:10} {relative:10.2e} {ratio:8.3f}")


if __name__ == "__main__":
    main()
