"""Sequence-model steps, fastgrad against PyTorch side by side (alternating, same shapes):

- word LM (pytorch/examples/word_language_model defaults): Embedding(10000, 200), 2-layer LSTM
  200 (dropout 0.2), Linear(200, 10000); sequence 35, batch 20; SGD lr 20 step with
  clip_grad_norm_(0.25); the same with GRU;
- TransformerEncoderLayer(d_model 256, 4 heads, feed-forward 1024), sequence 128, batch 16,
  forward + backward (training mode, dropout 0.1);
- scaled_dot_product_attention forward + backward at sequence 4096 (8 heads of 64, batch 1),
  float32: time and peak memory, each library in its own process.

Prints min / median ms and the ratio fastgrad / PyTorch (below 1: fastgrad faster). One thread
first, then two. Not a test: nothing asserted. Usage: python bench/bench_seq.py [--threads 1 2]
[--repeat 5] [--only lstm gru encoder sdpa] [--sdpa-len 4096].
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable


def _clip(lib: Any, params: list, max_norm: float) -> None:
    utils = getattr(lib.nn, "utils", None)
    fn = getattr(utils, "clip_grad_norm_", None) if utils is not None else None
    if fn is not None:
        fn(params, max_norm)
        return
    grads = [p.grad for p in params if p.grad is not None]   # the same few lines by hand
    total = math.sqrt(sum(float((g * g).sum().item()) for g in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g.mul_(coef)


def word_lm(lib: Any, cell: str) -> Callable[[], None]:
    """One training step of the word language model; returns the step as a closure."""
    nn = lib.nn
    lib.manual_seed(0)
    vocab, emb, hid, layers, bptt, batch = 10000, 200, 200, 2, 35, 20

    class RNNModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = nn.Dropout(0.2)
            self.encoder = nn.Embedding(vocab, emb)
            self.rnn = getattr(nn, cell)(emb, hid, layers, dropout=0.2)
            self.decoder = nn.Linear(hid, vocab)

        def forward(self, x: Any, h: Any) -> Any:
            out, h = self.rnn(self.drop(self.encoder(x)), h)
            return self.decoder(self.drop(out)).reshape(-1, vocab), h

    model = RNNModel()
    model.train()
    opt = lib.optim.SGD(model.parameters(), lr=20)
    params = list(model.parameters())
    import numpy as np

    rng = np.random.default_rng(0)
    data = lib.tensor(rng.integers(0, vocab, (bptt + 1, batch)))
    x, y = data[:-1], data[1:].reshape(-1)
    state: dict = {"h": None}

    def step() -> None:
        h = state["h"]
        if h is not None:  # repackage_hidden: detach from the previous step
            h = tuple(t.detach() for t in h) if isinstance(h, tuple) else h.detach()
        opt.zero_grad()
        out, h = model(x, h)
        loss = lib.nn.functional.cross_entropy(out, y)
        loss.backward()
        _clip(lib, params, 0.25)
        opt.step()
        state["h"] = h

    return step


def encoder(lib: Any) -> Callable[[], None]:
    lib.manual_seed(0)
    layer = lib.nn.TransformerEncoderLayer(256, 4, 1024)
    layer.train()
    x = lib.randn(128, 16, 256, requires_grad=True)

    def step() -> None:
        layer.zero_grad()
        x.grad = None
        layer(x).sum().backward()

    return step


def time_pair(name: str, make: Callable[[Any], Callable[[], None]], libs: dict, repeat: int,
              threads: int) -> None:
    steps = {k: make(lib) for k, lib in libs.items()}
    for s in steps.values():  # warm up
        s()
        s()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeat):
        for k, s in steps.items():  # alternate
            t = time.perf_counter()
            s()
            times[k].append(1e3 * (time.perf_counter() - t))
    row = [f"{name:<34} threads {threads}"]
    for k, ts in times.items():
        row.append(f"{k} min {min(ts):8.2f} med {statistics.median(ts):8.2f} ms")
    if "torch" in times:
        row.append(f"ratio (min) {min(times['fastgrad']) / min(times['torch']):.2f}x")
    print("  ".join(row), flush=True)


# --- attention at a long sequence, one library per process -------------------------------------
def sdpa_child(lib_name: str, seq: int, threads: int) -> dict:
    if lib_name == "torch":
        import torch as lib
    else:
        import fastgrad as lib
    lib.set_num_threads(threads)
    lib.manual_seed(0)
    f = lib.nn.functional.scaled_dot_product_attention

    def rss() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    small = [lib.randn(1, 8, 16, 64, requires_grad=True) for _ in range(3)]
    f(*small).sum().backward()
    q, k, v = (lib.randn(1, 8, seq, 64, requires_grad=True) for _ in range(3))
    base = rss()
    ts = []
    for _ in range(2):
        t = time.perf_counter()
        f(q, k, v).sum().backward()
        ts.append(1e3 * (time.perf_counter() - t))
        q.grad = k.grad = v.grad = None
    # VmHWM, not ru_maxrss: a child started by fork + exec inherits its parent's ru_maxrss.
    with open("/proc/self/status") as fh:
        peak = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024
    return {"ms": min(ts), "extra_mb": peak - base}


def sdpa(seq: int, threads: int, libs: dict) -> None:
    res = {}
    for k in libs:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1")
        r = subprocess.run([sys.executable, __file__, "--child", k, "--sdpa-len", str(seq),
                            "--threads", str(threads)], capture_output=True, text=True, env=env,
                           check=False)
        if r.returncode != 0:
            res[k] = None
            print(f"sdpa {k}: failed: {r.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        res[k] = json.loads(r.stdout.strip().splitlines()[-1])
    row = [f"{'sdpa fwd+bwd L=' + str(seq) + ' 8x64 f32':<34} threads {threads}"]
    for k, v in res.items():
        if v:
            row.append(f"{k} {v['ms']:9.1f} ms peak +{v['extra_mb']:7.0f} MB")
    if res.get("torch") and res.get("fastgrad"):
        row.append(f"time ratio {res['fastgrad']['ms'] / res['torch']['ms']:.2f}x, memory ratio "
                   f"{res['fastgrad']['extra_mb'] / max(res['torch']['extra_mb'], 1):.2f}x")
    print("  ".join(row), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--only", nargs="+", default=["lstm", "gru", "encoder", "sdpa"])
    p.add_argument("--sdpa-len", type=int, default=4096)
    p.add_argument("--child", default=None)
    a = p.parse_args()
    if a.child:
        print(json.dumps(sdpa_child(a.child, a.sdpa_len, a.threads[0])))
        return
    import fastgrad

    libs: dict = {"fastgrad": fastgrad}
    try:
        import torch

        libs["torch"] = torch
    except ImportError:
        print("PyTorch is not installed: fastgrad alone")
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    print(f"fastgrad backend {fastgrad.get_backend()}; the machine is shared with other jobs, "
          "so figures vary between runs")
    for n in a.threads:
        for lib in libs.values():
            lib.set_num_threads(n)
        if "lstm" in a.only:
            time_pair("word LM LSTM SGD step", lambda lib: word_lm(lib, "LSTM"), libs, a.repeat, n)
        if "gru" in a.only:
            time_pair("word LM GRU SGD step", lambda lib: word_lm(lib, "GRU"), libs, a.repeat, n)
        if "encoder" in a.only:
            time_pair("TransformerEncoderLayer fwd+bwd", encoder, libs, a.repeat, n)
        if "sdpa" in a.only:
            sdpa(a.sdpa_len, n, libs)


if __name__ == "__main__":
    main()
