"""``python -m fastgrad.demo --model lstm``: a character-level LSTM language model trained on text
that ships with Python (the Zen of Python and the docstrings of the builtins), with a progress
bar and falling perplexity, then a few sampled lines. Needs tqdm. Not part of the library API.
"""

from __future__ import annotations

import argparse
import codecs
import inspect
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np


def wants_lstm(argv: Sequence[str] | None) -> bool:
    """True when the command line asks for ``--model lstm``."""
    args = list(sys.argv[1:] if argv is None else argv)
    for i, a in enumerate(args):
        if a == "--model" and i + 1 < len(args):
            return args[i + 1] == "lstm"
        if a.startswith("--model="):
            return a.split("=", 1)[1] == "lstm"
    return False


def corpus() -> str:
    """The Zen of Python (decoded from the stdlib's ``this`` module) and the builtins' docstrings."""
    import builtins
    import importlib.util

    spec = importlib.util.find_spec("this")  # read, not imported: importing it prints the Zen
    with open(spec.origin, encoding="utf-8") as f:  # type: ignore[union-attr]
        src = f.read()
    rot = src.split('"""')[1]
    zen = codecs.decode(rot, "rot13")
    docs = [inspect.getdoc(getattr(builtins, n)) or "" for n in sorted(dir(builtins))
            if not n.startswith("_")]
    return zen + "\n\n" + "\n\n".join(d for d in docs if d)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m fastgrad.demo --model lstm",
                                description="character-level LSTM language model")
    p.add_argument("--model", choices=("mlp", "lstm"), default="lstm")
    p.add_argument("--steps", type=int, default=200, help="training steps (200)")
    p.add_argument("--hidden", type=int, default=128, help="LSTM hidden units (128)")
    p.add_argument("--embed", type=int, default=32, help="character embedding size (32)")
    p.add_argument("--seq-len", type=int, default=64, help="characters per sequence (64)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per step (32)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (3e-3)")
    p.add_argument("--backend", choices=("cpp", "python"), default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=3, help="lines sampled at the end (3)")
    return p.parse_args(list(sys.argv[1:] if argv is None else argv))


def _build(fg: Any, vocab: int, args: argparse.Namespace) -> Any:
    nn = fg.nn

    class CharLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, args.embed)
            self.lstm = nn.LSTM(args.embed, args.hidden, batch_first=True)
            self.head = nn.Linear(args.hidden, vocab)

        def forward(self, x: Any, state: Any = None) -> Any:   # x (N, T) -> logits (N, T, V)
            out, state = self.lstm(self.embed(x), state)
            return self.head(out), state

    return CharLM()


def _clip_(params: list, max_norm: float) -> None:
    """Scales all gradients together so their global L2 norm is at most max_norm."""
    grads = [p.grad for p in params if p.grad is not None]
    total = math.sqrt(sum(float((g * g).sum().item()) for g in grads))
    if total > max_norm:
        for g in grads:
            g.mul_(max_norm / (total + 1e-6))


def _sample(fg: Any, model: Any, chars: list[str], idx: dict, prompt: str, n: int,
            rng: np.random.Generator, temperature: float = 0.8) -> str:
    out = prompt
    with fg.no_grad():
        x = fg.tensor([[idx[c] for c in prompt]])
        logits, state = model(x)
        for _ in range(n):
            p = (logits[0, -1] / temperature).softmax(-1).numpy().astype(np.float64)
            c = int(rng.choice(len(chars), p=p / p.sum()))
            out += chars[c]
            if chars[c] == "\n" and len(out) > len(prompt) + 20:
                break
            logits, state = model(fg.tensor([[c]]), state)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        from tqdm import tqdm
    except ImportError:
        print('fastgrad.demo: needs tqdm (for the progress bar): pip install "fastgrad[demo]"',
              file=sys.stderr)
        return 1
    import fastgrad as fg

    if args.backend is not None:
        fg.set_backend(args.backend)
    if args.threads is not None:
        fg.set_num_threads(args.threads)
    fg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    text = corpus()
    chars = sorted(set(text))
    idx = {c: i for i, c in enumerate(chars)}
    data = np.array([idx[c] for c in text], dtype=np.int64)
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]
    model = _build(fg, len(chars), args)
    opt = fg.optim.Adam(model.parameters(), lr=args.lr)
    params = list(model.parameters())
    n_params = sum(p.numel() for p in params)
    print(f"fastgrad demo: character-level LSTM ({args.embed}-{args.hidden}, {n_params:,} "
          f"parameters) on {len(text):,} characters of Python's own text ({len(chars)} symbols), "
          f"sequence {args.seq_len}, batch {args.batch_size}, Adam lr {args.lr}; backend "
          f"{fg.get_backend()}, {fg.get_num_threads()} thread(s)")
    t, b = args.seq_len, args.batch_size

    def batch(src: np.ndarray) -> tuple[Any, Any]:
        starts = rng.integers(0, len(src) - t - 1, b)
        xs = np.stack([src[s:s + t] for s in starts])
        ys = np.stack([src[s + 1:s + t + 1] for s in starts])
        return fg.tensor(xs), fg.tensor(ys.reshape(-1))

    def val_ppl() -> float:
        with fg.no_grad():
            x, y = batch(val)
            logits, _ = model(x)
            return math.exp(fg.nn.functional.cross_entropy(logits.reshape(-1, len(chars)),
                                                           y).item())

    print(f"before training: validation perplexity {val_ppl():.1f} (uniform: {len(chars)})")
    t0 = time.perf_counter()
    bar = tqdm(range(args.steps), desc="training", unit="step")
    smooth = None
    for step in bar:
        x, y = batch(train)
        logits, _ = model(x)
        loss = fg.nn.functional.cross_entropy(logits.reshape(-1, len(chars)), y)
        opt.zero_grad()
        loss.backward()
        _clip_(params, 1.0)
        opt.step()
        lv = loss.item()
        smooth = lv if smooth is None else 0.9 * smooth + 0.1 * lv
        bar.set_postfix(perplexity=f"{math.exp(smooth):.2f}")
        if (step + 1) % max(1, args.steps // 5) == 0:
            bar.write(f"step {step + 1}: training perplexity {math.exp(smooth):.2f}, "
                      f"validation perplexity {val_ppl():.2f}")
    elapsed = time.perf_counter() - t0
    print(f"trained {args.steps} steps in {elapsed:.1f} s ({1e3 * elapsed / args.steps:.1f} "
          f"ms/step)")
    print("samples:")
    for prompt in ["Beautiful ", "Return the ", "The "][:args.samples]:
        print("  " + _sample(fg, model, chars, idx, prompt, 120, rng).replace("\n", " | "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
