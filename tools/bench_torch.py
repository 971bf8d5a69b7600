"""The design's workloads W1 to W6 in PyTorch, the reference of issue 7.

    ../venv/bin/python tools/bench_torch.py speed --threads 1 [--seconds 1.5] [--warmup 0.5] [--only w1_train]
    ../venv/bin/python tools/bench_torch.py rss --threads 1      # W1, batch 128, 500 steps

Prints one JSON object per line, with the same ids and fields as
`cargo run --release --example bench_workloads`, which `tools/bench.sh` runs beside it.

A training step is what frechet's `train_step` does, written the usual PyTorch way:
`opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()` with
`torch.optim.SGD(params, lr)` (no momentum), float32, on the CPU. Inference is
`model(x)` at batch 1 under `torch.inference_mode()`. The data is synthetic and seeded:
4096 inputs uniform in [0, 1) and labels uniform over the 10 classes, walked batch by
batch.

Timing is the estimator of the Rust binary: after a warm-up, the calls are timed in
blocks of about 2 ms (at least one call) until the time is up, and the median over
blocks of the time per call is reported.

Every row of `speed` also names the instruction sets PyTorch's kernels ran with, since
`tools/bench.sh` holds them to AVX2 on an AVX-512 machine through the environment
(`ATEN_CPU_CAPABILITY`, `ONEDNN_MAX_CPU_ISA`, `MKL_ENABLE_INSTRUCTIONS`): `isa_aten`
for ATen's own vectorised kernels and `isa_onednn` for oneDNN's (the convolutions). MKL
(the matrix products) has no way to ask, so its setting cannot be checked.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

LR = 0.01
POOL = 4096


def w1():
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def w2():
    return nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )


def w3():
    """LeNet-5 as in examples/mnist_lenet.rs."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),        # 6×24×24 → 6×12×12
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),       # 16×8×8 → 16×4×4
        nn.Flatten(),                                           # 256
        nn.Linear(256, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def w4():
    """PyTorch's MNIST example net without its dropout."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def w5():
    """Keras' simple MNIST convnet without its dropout."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 10),
    )


def w6():
    """LeNet-5 with batch normalisation, as examples/mnist_batchnorm_lenet.rs without
    its dropout."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256, 120), nn.BatchNorm1d(120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


NETS = {"w1": (w1, (784,)), "w2": (w2, (784,)), "w3": (w3, (1, 28, 28)),
        "w4": (w4, (1, 28, 28)), "w5": (w5, (1, 28, 28)), "w6": (w6, (1, 28, 28))}
TRAIN = [("w1", 1), ("w1", 32), ("w1", 128), ("w1", 1024), ("w2", 256),
         ("w3", 1), ("w3", 32), ("w3", 128), ("w4", 64), ("w5", 128), ("w6", 128)]
INFER = ["w1", "w3", "w4", "w5"]


def data(shape, seed, n=POOL):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, *shape), generator=g, dtype=torch.float32)
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y


def timed(call, seconds, warmup):
    """Median, quartiles and counts of the per-call time, in seconds."""
    start = time.perf_counter()
    warm = 0
    while warm < 3 or time.perf_counter() - start < warmup:
        call()
        warm += 1
    per_call = (time.perf_counter() - start) / warm
    block = max(1, round(2e-3 / per_call))
    times = []
    end = time.perf_counter() + seconds
    while len(times) < 10 or time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(block):
            call()
        times.append((time.perf_counter() - t) / block)
    times.sort()
    at = lambda q: times[round((len(times) - 1) * q)]
    return at(0.5), at(0.25), at(0.75), len(times), len(times) * block


def train_row(name, batch, args):
    make, shape = NETS[name]
    torch.manual_seed(0)
    model = make()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = data(shape, 1)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, POOL, batch)]
    state = {"index": 0, "loss": None}

    def step():
        state["index"] += 1
        xb, yb = batches[state["index"] % len(batches)]
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        state["loss"] = loss

    median, q1, q3, blocks, calls = timed(step, args.seconds, args.warmup)
    loss = state["loss"].item()
    assert loss == loss and abs(loss) != float("inf"), f"{name}: the loss became {loss}"
    return {
        "id": f"{name}_train_b{batch}", "batch": batch,
        "samples_per_s": round(batch / median, 1),
        "samples_per_s_q1": round(batch / q3, 1), "samples_per_s_q3": round(batch / q1, 1),
        "step_us": round(median * 1e6, 3), "blocks": blocks, "steps": calls,
        "last_loss": round(loss, 4), "threads": torch.get_num_threads(),
    }


def infer_row(name, args):
    make, shape = NETS[name]
    torch.manual_seed(0)
    model = make().eval()
    x, _ = data(shape, 2)
    samples = [x[i:i + 1] for i in range(POOL)]
    state = {"index": 0}

    def call():
        state["index"] += 1
        with torch.inference_mode():
            model(samples[state["index"] % POOL])

    median, q1, q3, blocks, calls = timed(call, args.seconds, args.warmup)
    return {
        "id": f"{name}_infer_b1", "batch": 1, "latency_us": round(median * 1e6, 3),
        "latency_us_q1": round(q1 * 1e6, 3), "latency_us_q3": round(q3 * 1e6, 3),
        "samples_per_s": round(1 / median, 1), "blocks": blocks, "calls": calls,
        "threads": torch.get_num_threads(),
    }


def kernel_isas():
    """The instruction sets of ATen's kernels and of oneDNN's in this process, as
    {"isa_aten": "avx2", "isa_onednn": "Intel AVX2"}. oneDNN says which it uses only in
    its verbose log, printed on standard output by C code: one small convolution runs
    with the log on and the output file descriptor pointed at a temporary file."""
    conv, x = nn.Conv2d(1, 8, 3), torch.rand(8, 1, 8, 8)  # batch 1 may bypass oneDNN
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 1)
        try:
            with torch.inference_mode(), torch.backends.mkldnn.verbose(
                    torch.backends.mkldnn.VERBOSE_ON):
                conv(x)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        lines = log.read().decode(errors="replace").splitlines()
    onednn = next((line.split("isa:", 1)[1] for line in lines if ",isa:" in line), "unknown")
    return {"isa_aten": torch.backends.cpu.get_cpu_capability().lower(), "isa_onednn": onednn}


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def rss(args):
    """Peak RSS of 500 steps of W1 at batch 128 on one fixed batch, over the RSS that
    `import torch` (and setting the thread count) left."""
    baseline = status_kib("VmRSS")
    peak_before = status_kib("VmHWM")
    torch.manual_seed(0)
    model = w1()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = data((784,), 1, n=128)
    for _ in range(args.steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    peak = status_kib("VmHWM")
    return {
        "id": "w1_rss_b128", "steps": args.steps,
        "peak_rss_kib": peak, "baseline_rss_kib": baseline,
        "peak_before_kib": peak_before, "over_baseline_kib": peak - baseline,
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "last_loss": round(loss.item(), 4), "threads": torch.get_num_threads(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["speed", "rss", "version"])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--seconds", type=float, default=1.5, help="timed seconds per row")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds per row")
    parser.add_argument("--only", help="only the rows whose id contains this")
    parser.add_argument("--steps", type=int, default=500, help="training steps of `rss`")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.command == "version":
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                          "config": torch.__config__.parallel_info().splitlines()[:6]}))
        return
    if args.command == "rss":
        print(json.dumps(rss(args)), flush=True)
        return
    isas = kernel_isas()
    for name, batch in TRAIN:
        if args.only is None or args.only in f"{name}_train_b{batch}":
            print(json.dumps(train_row(name, batch, args) | isas), flush=True)
    for name in INFER:
        if args.only is None or args.only in f"{name}_infer_b1":
            print(json.dumps(infer_row(name, args) | isas), flush=True)


if __name__ == "__main__":
    main()
