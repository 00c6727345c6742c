#!/usr/bin/python3
"""bench/torch_transformer.py: PyTorch on the model of `gradus bench
transformer`, for the side-by-side. Run by hand (never by the tests): it
needs Debian's python3-torch (1.13), which setup.sh does not install. Run it
with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (for this command only):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 \\
        bench/torch_transformer.py [--threads 1] [--steps 20] [--epochs 3]

The model: embedding (65 characters, d 128), a learned positional table,
4 pre-LN blocks x + attn(ln(x)), x + mlp(ln(x)) with causal multi-head
attention (4 heads, nn.MultiheadAttention, bias) and a 4d GELU MLP, a final
layer norm and a linear readout; cross-entropy over all positions; AdamW
(lr 1e-3, weight decay 0.01) at batch 32 x 128 tokens, on random ids, as
gradus bench transformer does. tokens/s = the median of the epochs after
the first (each `steps` steps).
"""
import argparse
import os
import statistics
import sys
import time


def threads_arg():
    """--threads, read before torch is imported (see torch_mlp.py)."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
    return "1"


os.environ.setdefault("OPENBLAS_NUM_THREADS", threads_arg())

import torch  # noqa: E402
from torch import nn  # noqa: E402

T, D, HEADS, BLOCKS, VOCAB, BATCH = 128, 128, 4, 4, 65, 32


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = nn.MultiheadAttention(D, HEADS, bias=True, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))
        self.register_buffer("mask", torch.triu(torch.ones(T, T, dtype=torch.bool), 1))

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=self.mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.pos = nn.Parameter(torch.randn(T, D) * 0.02)
        self.blocks = nn.Sequential(*[Block() for _ in range(BLOCKS)])
        self.ln = nn.LayerNorm(D)
        self.out = nn.Linear(D, VOCAB)

    def forward(self, ids):
        return self.out(self.ln(self.blocks(self.emb(ids) + self.pos)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = Model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    loss_fn = nn.CrossEntropyLoss()
    text = torch.randint(0, VOCAB, (a.steps * BATCH * T + 1,))
    windows = a.steps * BATCH
    rates = []
    for epoch in range(a.epochs):
        order = torch.randperm(windows)
        t0 = time.perf_counter()
        for s in range(a.steps):
            starts = order[s * BATCH:(s + 1) * BATCH] * T
            idx = starts[:, None] + torch.arange(T)[None, :]
            x, y = text[idx], text[idx + 1]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x).reshape(-1, VOCAB), y.reshape(-1))
            loss.backward()
            opt.step()
        dt = time.perf_counter() - t0
        if epoch > 0:
            rates.append(windows * T / dt)
    print(f"torch {torch.__version__}, {a.threads} thread(s): "
          f"{statistics.median(rates):.0f} tokens/s (epochs 2..{a.epochs} of {a.steps} steps, "
          f"batch {BATCH} x {T})")


if __name__ == "__main__":
    main()
