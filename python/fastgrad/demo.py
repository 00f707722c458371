"""``python -m fastgrad.demo``: train an MLP (or, with ``--model cnn``, a small CNN) on
scikit-learn's handwritten digits with fastgrad.

It prints the test accuracy and the time per step, then trains the same network from the same
weights on the same batches with hand-written NumPy forward and backward passes (the lecture's
"flat" code) and prints the speed ratio. Needs ``pip install "fastgrad[demo]"`` (scikit-learn,
tqdm; matplotlib for ``--plot``). Not part of the library API; bench/bench_train.py reuses
``NumpyMLP``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

INSTALL_HINT = 'pip install "fastgrad[demo]"'


# --- the NumPy reference: forward and backward written by hand ---------------------------------
class NumpyMLP:
    """A ReLU MLP trained with softmax cross-entropy and SGD with momentum, in plain NumPy.

    Shapes: weights[i] (out_i, in_i) as nn.Linear's, biases[i] (out_i,); x (N, in_0), y (N,).
    The update is torch.optim.SGD's (momentum, weight_decay), so it follows fastgrad's run.
    """

    def __init__(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], lr: float,
                 momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        self.params = []
        for w, b in zip(weights, biases):
            self.params += [np.array(w, np.float32), np.array(b, np.float32)]
        self.bufs: list[np.ndarray | None] = [None] * len(self.params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        acts = [x]
        h = x
        n_layers = len(self.params) // 2
        for i in range(n_layers):
            w, b = self.params[2 * i], self.params[2 * i + 1]
            h = h @ w.T + b
            if i < n_layers - 1:
                h = np.maximum(h, 0)
                acts.append(h)
        return h, acts

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One SGD step on the batch (x, y); returns the mean cross-entropy before the step."""
        logits, acts = self.forward(x)
        n = x.shape[0]
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.log(s[:, 0]).mean() - z[np.arange(n), y].mean())
        d = e / s  # dL/dlogits = (softmax - onehot) / N
        d[np.arange(n), y] -= 1
        d /= n
        grads = [None] * len(self.params)
        for i in range(len(self.params) // 2 - 1, -1, -1):
            w = self.params[2 * i]
            grads[2 * i] = d.T @ acts[i]
            grads[2 * i + 1] = d.sum(axis=0)
            if i > 0:
                d = (d @ w) * (acts[i] > 0)
        for k, (p, g) in enumerate(zip(self.params, grads)):
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                if self.bufs[k] is None:
                    self.bufs[k] = g.copy()
                else:
                    self.bufs[k] *= self.momentum
                    self.bufs[k] += g
                g = self.bufs[k]
            p -= self.lr * g
        return loss

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.forward(x)[0].argmax(axis=1) == y).mean())


# --- the demo ----------------------------------------------------------------------------------
def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m fastgrad.demo",
        description="Train an MLP on scikit-learn's digits with fastgrad, then with hand-written "
                    "NumPy, and compare accuracy and speed.",
    )
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                   help="mlp (default) or cnn: conv 1->16->32 3x3, max-pool 2, linear 512->64->10 "
                        "(no NumPy reference run)")
    p.add_argument("--epochs", type=int, default=None,
                   help="passes over the training set (40 for mlp, 20 for cnn)")
    p.add_argument("--hidden", type=int, default=128, help="hidden units (128)")
    p.add_argument("--batch-size", type=int, default=32, help="samples per step (32)")
    p.add_argument("--lr", type=float, default=0.02, help="SGD learning rate (0.02, momentum 0.9)")
    p.add_argument("--backend", choices=("cpp", "python"), default=None,
                   help="fastgrad backend (default: cpp when built)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for fastgrad and NumPy's BLAS (default: all cores)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, init and batches (0)")
    p.add_argument("--plot", metavar="OUT.png", default=None,
                   help="save loss and accuracy curves (needs matplotlib)")
    p.add_argument("--no-reference", action="store_true",
                   help="skip the NumPy reference run")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI: `mpiexec -n 2 python -m fastgrad.demo "
                        "--distributed`; each rank takes 1/world of every batch "
                        "(needs pip install \"fastgrad[distributed]\")")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 40 if args.model == "mlp" else 20
    if args.model == "cnn":
        args.no_reference = True
    for name in ("epochs", "hidden", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be at least 1")
    return args


def _missing(what: str) -> int:
    print(f"fastgrad.demo needs {what}: {INSTALL_HINT}", file=sys.stderr)
    return 1


def load_digits_split(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits: 80/20 stratified split, features standardised on the training
    set. Shapes: x (N, 64) float32, y (N,) int64."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    mu, sd = xtr.mean(axis=0), xtr.std(axis=0)
    sd[sd == 0] = 1.0
    f = np.float32
    return (((xtr - mu) / sd).astype(f), ((xte - mu) / sd).astype(f), ytr.astype(np.int64),
            yte.astype(np.int64))


def batches(n: int, batch_size: int, epochs: int, seed: int) -> list[list[np.ndarray]]:
    """Per epoch, the shuffled index batches (the same for fastgrad and NumPy)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(epochs):
        perm = rng.permutation(n)
        out.append([perm[i:i + batch_size] for i in range(0, n, batch_size)])
    return out


def _limit_blas(threads: int | None) -> Any:
    if threads is None:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=threads)


def _plot(path: str, history: dict[str, list[float]]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"--plot needs matplotlib: {INSTALL_HINT} (or pip install matplotlib); "
              "no picture written", file=sys.stderr)
        return
    fig, ax1 = plt.subplots(figsize=(6, 4))
    epochs = range(1, len(history["loss"]) + 1)
    ax1.plot(epochs, history["loss"], color="tab:blue", label="training loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("mean training loss", color="tab:blue")
    ax1.set_yscale("log")
    ax2 = ax1.twinx()
    ax2.plot(epochs, [100 * a for a in history["acc"]], color="tab:orange", label="test accuracy")
    ax2.set_ylabel("test accuracy (%)", color="tab:orange")
    ax1.set_title("fastgrad model on scikit-learn digits")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot: {path}")


def train_fastgrad(args: argparse.Namespace, data: tuple, plan: list, fg: Any, tqdm: Any) -> dict:
    from fastgrad import nn, optim

    xtr, xte, ytr, yte = data
    if args.model == "cnn":  # images (N, 1, 8, 8)
        xtr, xte = xtr.reshape(-1, 1, 8, 8), xte.reshape(-1, 1, 8, 8)
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                              nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
                              nn.Linear(64, 10))
    else:
        model = nn.Sequential(nn.Linear(xtr.shape[1], args.hidden), nn.ReLU(),
                              nn.Linear(args.hidden, 10))
    init = {k: np.array(v) for k, v in model.state_dict().items()}
    loss_fn = nn.CrossEntropyLoss()
    rank, world = 0, 1
    if args.distributed:  # the same steps as one process: rank r takes idx[r::world]
        from fastgrad import distributed as dist
        from fastgrad.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model)
        rank, world = dist.get_rank(), dist.get_world_size()
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    x_test = fg.from_numpy(xte)
    steps = sum(len(e) for e in plan)
    history: dict[str, list[float]] = {"loss": [], "acc": []}
    train_time = 0.0
    bar = tqdm(total=steps, desc="fastgrad", unit="step", leave=True, mininterval=0.2,
               disable=rank != 0)
    for epoch in plan:
        t0 = time.perf_counter()
        losses = []
        for idx in epoch:
            idx = idx[rank::world]
            xb, yb = fg.from_numpy(xtr[idx]), fg.from_numpy(ytr[idx])  # a data loader's batch
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss)
        train_time += time.perf_counter() - t0
        bar.update(len(epoch))
        with fg.no_grad():
            acc = float((model(x_test).argmax(1).numpy() == yte).mean())
        history["loss"].append(float(np.mean([v.item() for v in losses])))
        history["acc"].append(acc)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", test_acc=f"{100 * acc:.1f}%",
                        samples_per_s=f"{len(xtr) * len(history['loss']) / train_time:,.0f}")
    bar.close()
    return {"init": init, "time": train_time, "steps": steps, "acc": history["acc"][-1],
            "loss": history["loss"][-1], "history": history}


def train_numpy(args: argparse.Namespace, data: tuple, plan: list, init: dict) -> dict:
    xtr, xte, ytr, yte = data
    ref = NumpyMLP([init["0.weight"], init["2.weight"]], [init["0.bias"], init["2.bias"]],
                   lr=args.lr, momentum=0.9)
    t0 = time.perf_counter()
    losses = []
    for epoch in plan:
        losses = [ref.step(xtr[idx], ytr[idx]) for idx in epoch]
    elapsed = time.perf_counter() - t0
    return {"time": elapsed, "acc": ref.accuracy(xte, yte), "loss": float(np.mean(losses))}


def main(argv: Sequence[str] | None = None) -> int:
    from fastgrad._demo_lstm import wants_lstm  # --model lstm: the character-level LSTM demo

    if wants_lstm(argv):
        from fastgrad._demo_lstm import main as lstm_main

        return lstm_main(argv)
    args = _parse(argv)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return _missing("scikit-learn (for the digits data)")
    try:
        from tqdm import tqdm
    except ImportError:
        return _missing("tqdm (for the progress bar)")
    import fastgrad as fg

    if args.distributed:
        from fastgrad import distributed as dist

        dist.init_process_group("mpi")
        if dist.get_rank() != 0:  # rank 0 reports; the others train quietly
            args.no_reference, args.plot = True, None
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    if args.backend is not None:
        try:
            fg.set_backend(args.backend)
        except RuntimeError as e:
            print(f"fastgrad.demo: {e}", file=sys.stderr)
            return 1
    if args.threads is not None:
        fg.set_num_threads(args.threads)
    fg.manual_seed(args.seed)
    limit = _limit_blas(args.threads)

    t_start = time.perf_counter()
    data = load_digits_split(args.seed)
    xtr, xte = data[0], data[1]
    plan = batches(len(xtr), args.batch_size, args.epochs, args.seed)
    arch = ("CNN conv 1-16-32 3x3 (ReLU), max-pool 2, linear 512-64-10" if args.model == "cnn"
            else f"MLP {xtr.shape[1]}-{args.hidden}-10 (ReLU)")
    print(f"fastgrad demo: {arch}, softmax cross-entropy, "
          f"SGD lr {args.lr} momentum 0.9, on scikit-learn digits: {len(xtr)} train / "
          f"{len(xte)} test images, batch {args.batch_size}, {args.epochs} epochs; backend "
          f"{fg.get_backend()}, {fg.get_num_threads()} thread(s)"
          + (f"; data-parallel on {dist.get_world_size()} MPI ranks" if args.distributed else ""))
    r = train_fastgrad(args, data, plan, fg, tqdm)
    ms = 1e3 * r["time"] / r["steps"]
    print(f"fastgrad ({fg.get_backend()}): test accuracy {100 * r['acc']:.2f}%, "
          f"{ms:.3f} ms/step ({r['steps']} steps in {r['time']:.2f} s, "
          f"{len(xtr) * args.epochs / r['time']:,.0f} samples/s), final training loss "
          f"{r['loss']:.4f}")
    if not args.no_reference:
        n = train_numpy(args, data, plan, r["init"])
        ms_np = 1e3 * n["time"] / r["steps"]
        print(f"NumPy hand-written forward/backward: test accuracy {100 * n['acc']:.2f}%, "
              f"{ms_np:.3f} ms/step, final training loss {n['loss']:.4f}")
        ratio = n["time"] / r["time"]
        print(f"speed ratio (NumPy time / fastgrad time): {ratio:.2f}x "
              f"({'fastgrad' if ratio >= 1 else 'NumPy'} is faster)")
    if limit is not None:
        limit.unregister() if hasattr(limit, "unregister") else None
    if args.plot:
        _plot(args.plot, r["history"])
    print(f"total {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
