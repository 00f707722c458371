"""Training under stress, on both backends: a 10,000-step run of the demo model keeps memory flat
and frees every graph; Python threads training separate models get the results of a serial run;
set_num_threads from another thread mid-training neither crashes nor changes a bit; training is
bitwise identical for 1, 2 and 3 threads and from one process to another. (test_engine.py has the
op-level versions of the last two.)"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import fastgrad
import numpy as np
import pytest
from fastgrad import nn, optim
from process_stats import live_objects, rss, sanitized


@pytest.fixture(autouse=True)
def _restore_threads():  # type: ignore[no-untyped-def]
    prev = fastgrad.get_num_threads()
    yield
    fastgrad.set_num_threads(prev)


def _model(seed: int, d_in: int = 64, hidden: int = 128, classes: int = 10) -> nn.Module:
    """The demo's MLP (python/fastgrad/demo.py), weights drawn from `seed` (not the global RNG, so
    threads can build models in any order)."""
    model = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, classes))
    rng = np.random.default_rng(seed)
    with fastgrad.no_grad():
        for p in model.parameters():
            p.copy_(fastgrad.tensor((rng.standard_normal(p.shape) * 0.1).astype(np.float32)))
    return model


def _data(seed: int, n: int, d_in: int = 64, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_in)).astype(np.float32)
    y = (x @ rng.standard_normal((d_in, classes))).argmax(1).astype(np.int64)  # learnable
    return x, y


class Trainer:
    """The demo's loop: cross-entropy, SGD with momentum (or Adam), one batch per step."""

    def __init__(self, seed: int, batch: int = 32, adam: bool = False, **sizes: int) -> None:
        self.model = _model(seed, **sizes)
        self.x, self.y = _data(seed + 1000, 16 * batch, sizes.get("d_in", 64),
                               sizes.get("classes", 10))
        params = self.model.parameters()
        self.opt = optim.Adam(params, lr=1e-3) if adam else optim.SGD(params, lr=0.02,
                                                                      momentum=0.9)
        self.loss_fn = nn.CrossEntropyLoss()
        self.batch, self.step_nr = batch, 0

    def step(self) -> float:
        i = self.step_nr % 16 * self.batch
        self.step_nr += 1
        xb = fastgrad.from_numpy(self.x[i:i + self.batch])
        yb = fastgrad.from_numpy(self.y[i:i + self.batch])
        loss = self.loss_fn(self.model(xb), yb)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.item()

    def run(self, steps: int) -> list[float]:
        return [self.step() for _ in range(steps)]

    def state(self) -> list[np.ndarray]:
        return [p.detach().numpy().copy() for p in self.model.parameters()]


def test_long_run_memory_is_flat(backend: str) -> None:
    # 10,000 steps of the demo model on C++, 1,000 on the slower Python backend; 2,000 in a
    # sanitizer build, where only the live counts are checked and a step is 5x slower.
    steps = 1_000 if backend == "python" else 2_000 if sanitized() else 10_000
    t = Trainer(0)
    first = t.run(500)  # warm-up: caches, optimizer state and allocator arenas fill up
    live0, rss0 = live_objects(backend), rss()
    last = t.run(steps - 500)
    live1, rss1 = live_objects(backend), rss()
    assert live1 == live0  # no tensor or node outlives its step
    grown = rss1 - rss0
    if not sanitized():  # ASan holds freed blocks in its quarantine (up to 256 MiB) by design
        assert grown < 4 << 20, f"RSS grew by {grown / 2**20:.1f} MiB over {steps - 500} steps"
    assert np.mean(last[-50:]) < 0.5 * np.mean(first[:50])  # it did train


def test_graph_of_a_training_step_is_freed(backend: str) -> None:
    t = Trainer(1)
    t.run(3)
    t.opt.zero_grad()  # gradients go (set to None); momentum buffers stay
    base = live_objects(backend)
    xb = fastgrad.from_numpy(t.x[:32])
    loss = t.loss_fn(t.model(xb), fastgrad.from_numpy(t.y[:32]))
    node = weakref.ref(loss.grad_fn) if backend == "python" else None
    during = live_objects(backend)
    assert during[1] >= base[1] + 4  # linear, relu, linear, loss nodes at least
    loss.backward(retain_graph=True)  # saved tensors are kept while the graph is referenced
    assert live_objects(backend)[1] == during[1]
    del loss, xb
    t.opt.zero_grad()  # drops the gradients created by backward
    assert live_objects(backend) == base
    if node is not None:
        assert node() is None


def _train(t: Trainer, steps: int) -> list[np.ndarray]:
    t.run(steps)
    return t.state()


def test_threads_training_separate_models_match_serial(backend: str) -> None:
    seeds = (11, 12, 13)
    steps = 100
    serial = {s: _train(Trainer(s, adam=s % 2 == 0), steps) for s in seeds}
    trainers = {s: Trainer(s, adam=s % 2 == 0) for s in seeds}
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(seeds))

    def work(s: int) -> None:
        try:
            start.wait()
            results[s] = _train(trainers[s], steps)
        except BaseException as e:  # noqa: BLE001 (reported by the main thread)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in seeds]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for s in seeds:
        for a, b in zip(results[s], serial[s]):
            assert np.array_equal(a, b), f"model {s} differs from its serial run"


def _scalar_graph(seed: int) -> tuple[list, fastgrad.Tensor]:
    """A micrograd-style graph of 0-d tensors: (leaves, output)."""
    r = np.random.default_rng(seed)
    leaves = [fastgrad.tensor(float(v), requires_grad=True) for v in r.standard_normal(10)]
    h, w = leaves[:4], leaves[4:]
    for k in range(3):
        h = [sum((w[(i + j + k) % 6] * x for j, x in enumerate(h)), leaves[k]).tanh()
             for i in range(4)]
    return leaves, sum(h, fastgrad.tensor(0.0))


def test_graphs_built_on_one_thread_run_and_die_on_another(backend: str) -> None:
    # Tensors and nodes made by one thread are freed by another (the C++ backend keeps freed
    # blocks in lists of the freeing thread, freed when that thread exits): values, gradients
    # and live counts must not care.
    want = []
    for seed in range(40):
        leaves, out = _scalar_graph(seed)
        out.backward()
        want.append([float(out), *(float(p.grad) for p in leaves)])
    base = live_objects(backend)
    made: list = []
    got: list = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            made.extend(_scalar_graph(seed) for seed in range(40))
        except BaseException as e:  # noqa: BLE001 (reported by the main thread)
            errors.append(e)

    def run() -> None:
        try:
            while made:
                leaves, out = made.pop(0)
                out.backward()
                got.append([float(out), *(float(p.grad) for p in leaves)])
                del leaves, out
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    for target in (build, run):  # one after the other: each thread exits with its lists full
        th = threading.Thread(target=target)
        th.start()
        th.join()
    assert not errors, errors
    assert got == want
    assert live_objects(backend) == base


# Large enough for the parallel paths: (512, 512) @ (512, 2048) is 2^30 flops, past the gemm
# threshold (2^29), and the (512, 2048) activations and the (2048, 512) weight reach the
# elementwise one (kParallelMin, 2^20 elements).
BIG = {"d_in": 512, "hidden": 2048, "classes": 64}


def test_set_num_threads_while_training(backend: str) -> None:
    fastgrad.set_num_threads(1)
    expected = _train(Trainer(5, batch=512, **BIG), 6)
    done = threading.Event()
    changes = [0]

    def toggle() -> None:
        while not done.is_set():
            fastgrad.set_num_threads(1 + changes[0] % 3)
            changes[0] += 1

    t = Trainer(5, batch=512, **BIG)
    th = threading.Thread(target=toggle)
    th.start()
    try:
        got = _train(t, 6)
    finally:
        done.set()
        th.join()
    assert changes[0] > 10  # the count really changed while the steps ran
    for a, b in zip(got, expected):
        assert np.array_equal(a, b)


def _digest(state: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in state:
        h.update(a.tobytes())
    return h.hexdigest()


SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import fastgrad
from test_stress import BIG, Trainer, _digest, _train
fastgrad.set_num_threads({threads})
print(_digest(_train(Trainer(7, batch=512, adam=True, **BIG), 3)))
"""


def test_training_bitwise_identical_for_1_2_3_threads_and_runs(backend: str) -> None:
    digests = []
    for n in (1, 2, 3, 2):
        fastgrad.set_num_threads(n)
        digests.append(_digest(_train(Trainer(7, batch=512, adam=True, **BIG), 3)))
    assert len(set(digests)) == 1, digests
    # A fresh process (new addresses, new allocator state) with 3 threads: the same bits.
    env = dict(os.environ, FASTGRAD_BACKEND=backend)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(fastgrad.__file__).parent.parent),
                                         env.get("PYTHONPATH", "")])
    code = SCRIPT.format(tests=str(Path(__file__).parent), threads=3)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       check=False, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == digests[0]
