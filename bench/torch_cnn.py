#!/usr/bin/python3
"""bench/torch_cnn.py: PyTorch on the recipe of `gradus bench cnn`, for the
side-by-side in BENCHMARKS.md. Run by hand (never by the tests): it needs
Debian's python3-torch, which setup.sh does not install. Run it with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that command only, so
torch's OpenBLAS picks its best kernels:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_cnn.py \\
        [--threads 1] [--batch 128] [--epochs 3] [--limit 6400]

DeepOBS fmnist_2c2d: conv 5x5 32 "same" ReLU, max pool 2, conv 5x5 64
"same" ReLU, max pool 2, flatten, dense 1024 ReLU, dense 10 (weights
normal sigma 0.05, biases 0.05), cross-entropy, SGD momentum 0.9 lr 0.01,
on the first --limit Fashion-MNIST training images [1, 28, 28] (bytes /
255), reshuffled every epoch and gathered batch by batch, as gradus does.
samples/s = median of epochs 2..N, and samples per CPU-second of the
process (what a loaded machine cannot hide); 82.0 MFLOPs per training
sample (the count of `gradus bench cnn`).
"""
import argparse
import gzip
import os
import statistics
import sys
import time


def threads_arg():
    """--threads, read before torch is imported (see bench/torch_mlp.py)."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
    return "1"


os.environ.setdefault("OPENBLAS_NUM_THREADS", threads_arg())

import numpy as np  # noqa: E402
import torch  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
FLOPS = 82_049_024


def load(limit):
    with gzip.open(f"{DATA}/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{DATA}/train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    if limit:
        x, y = x[:limit], y[:limit]
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def model(seed):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(3136, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, 10))
    for m in net:
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.normal_(m.weight, std=0.05)
            torch.nn.init.constant_(m.bias, 0.05)
    return net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=6400)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x, y = load(a.limit)
    net = model(1)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(1)
    rates, cpu_rates = [], []
    for e in range(a.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(x.shape[0], generator=gen)
        for i in range(0, x.shape[0], a.batch):
            idx = perm[i:i + a.batch]
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if e >= 1:
            rates.append(x.shape[0] / dt)
            cpu_rates.append(x.shape[0] / dc)
        print(f"  epoch {e + 1}: {x.shape[0] / dt:.0f} samples/s (loss {float(loss):.3f})")
    r, rc = statistics.median(rates), statistics.median(cpu_rates)
    print(f"torch {torch.__version__}, {a.threads} thread(s), momentum, batch {a.batch}: "
          f"{r:.0f} samples/s, {1e3 * a.batch / r:.1f} ms/step, {r * FLOPS / 1e9:.1f} GFLOP/s; "
          f"{rc:.0f} samples per CPU-second")


if __name__ == "__main__":
    main()
