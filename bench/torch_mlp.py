#!/usr/bin/python3
"""bench/torch_mlp.py: PyTorch on the recipe of `gradus bench mlp`, for the
side-by-side in BENCHMARKS.md. Run by hand (never by the tests): it needs
Debian's python3-torch, which setup.sh does not install.

    /usr/bin/python3 bench/torch_mlp.py [--threads 1] [--batch 128] [--epochs 5] [--repeats 3]
                                        [--optim adam|sgd] [--no-foreach]

With PyTorch's best kernels, as on a user's machine (the development
environment forces OpenBLAS to its Haswell kernels; unset that for this
command only):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_mlp.py ...

MLP 784-256-128-10 (ReLU, He-normal weights, zero biases), cross-entropy,
Adam lr 1e-3 (or SGD lr 0.01, gradus's defaults), on the 60,000
Fashion-MNIST training images (bytes / 255),
reshuffled every epoch and gathered batch by batch, as gradus does.
samples/s = median of epochs 2..N per repeat; then median [min-max] over
repeats, each repeat a fresh model. Also per CPU second of the process (as
gradus bench mlp's %cpu), which time slices taken by other processes do not
lower.
"""
import argparse
import gzip
import os
import statistics
import sys
import time


def threads_arg():
    """--threads, read before torch is imported (see below)."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
    return "1"


# Debian's torch runs Linear through OpenBLAS (BLAS_INFO=generic), whose own
# threads torch.set_num_threads does not limit: left at the core count they
# fight torch's OpenMP team (measured: 23 ms a step instead of 3 at 1 thread).
os.environ.setdefault("OPENBLAS_NUM_THREADS", threads_arg())

import numpy as np  # noqa: E402
import torch  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def load():
    with gzip.open(f"{DATA}/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(f"{DATA}/train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def model(seed):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
              torch.nn.ReLU(), torch.nn.Linear(128, 10)]
    for l in layers:
        if isinstance(l, torch.nn.Linear):
            torch.nn.init.kaiming_normal_(l.weight, nonlinearity="relu")
            torch.nn.init.zeros_(l.bias)
    return torch.nn.Sequential(*layers)


def epoch(net, opt, loss_fn, x, y, batch, gen):
    perm = torch.randperm(x.shape[0], generator=gen)
    for i in range(0, x.shape[0], batch):
        idx = perm[i:i + batch]
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
    return float(loss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    # PyTorch 1.13's best kernels on CPU: the multi-tensor update (foreach) is
    # 3-4x faster than the per-parameter loop for Adam here (73k against 18k
    # samples/s at batch 128, 1 thread); --no-foreach gives the loop.
    ap.add_argument("--foreach", action=argparse.BooleanOptionalAction, default=True,
                    help="the multi-tensor update (default; --no-foreach: per parameter)")
    ap.add_argument("--optim", choices=["adam", "sgd"], default="adam")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x, y = load()
    rates, cpu_rates = [], []
    for rep in range(a.repeats):
        net = model(rep + 1)
        if a.optim == "adam":
            opt = torch.optim.Adam(net.parameters(), lr=1e-3, foreach=a.foreach)
        else:
            opt = torch.optim.SGD(net.parameters(), lr=0.01, foreach=a.foreach)
        loss_fn = torch.nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(rep + 1)
        per, per_cpu = [], []
        for e in range(a.epochs):
            t0, c0 = time.perf_counter(), time.process_time()
            last = epoch(net, opt, loss_fn, x, y, a.batch, gen)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if e >= 1:
                per.append(x.shape[0] / dt)
                per_cpu.append(x.shape[0] / dc)
        rates.append(statistics.median(per))
        cpu_rates.append(statistics.median(per_cpu))
        print(f"  repeat {rep + 1}: {rates[-1] / 1e3:.1f}k samples/s, {cpu_rates[-1] / 1e3:.1f}k "
              f"per CPU second (last loss {last:.3f})")
    print(f"torch {torch.__version__}, {a.threads} thread(s), {a.optim}"
          f"{' (foreach)' if a.foreach else ''}, batch {a.batch}: "
          f"{statistics.median(rates) / 1e3:.1f}k samples/s "
          f"[{min(rates) / 1e3:.1f}k-{max(rates) / 1e3:.1f}k]; per CPU second of the process "
          f"{statistics.median(cpu_rates) / 1e3:.1f}k [{min(cpu_rates) / 1e3:.1f}k-"
          f"{max(cpu_rates) / 1e3:.1f}k]")


if __name__ == "__main__":
    main()
