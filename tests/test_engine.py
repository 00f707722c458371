"""Engine rules on both backends: fan-in/fan-out, deep graphs without recursion, freed buffers and
saved tensors, retain_graph, grad mode, hooks, retain_grad, fastgrad.grad, custom Functions,
thread-count determinism and concurrent graphs."""

from __future__ import annotations

import gc
import threading
import weakref

import fastgrad
import numpy as np
import pytest
from fastgrad import float64
from process_stats import rss, sanitized


def test_diamond_fan_in_sums(backend: str) -> None:
    x = fastgrad.tensor(3.0, dtype=float64, requires_grad=True)
    a = x * 2.0
    b = x.exp()
    (a + b).backward()
    assert x.grad.item() == pytest.approx(2 + np.exp(3.0))


def test_fan_in_sums_never_write_into_a_gradient_someone_holds(backend: str) -> None:
    # The C++ engine sums a node's incoming gradients in place when only it holds the first one
    # (Note [In-place fan-in]). A gradient a custom Function also keeps, one seeded by the
    # caller, and one a second edge shares (a + a) must stay as they were.
    kept: list[fastgrad.Tensor] = []

    class Keep(fastgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            return x * 1.0

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            out = g * 3.0
            kept.append(out)
            return out

    x = fastgrad.tensor([1.0, -2.0], dtype=float64, requires_grad=True)
    h = x * 2.0  # fan-in at h: Keep's gradient arrives first, then h * h's and then (h + h)'s
    seed = fastgrad.tensor([1.0, 10.0], dtype=float64)
    y = (h * h) + (h + h) + Keep.apply(h)
    y.backward(seed)
    assert [k.tolist() for k in kept] == [[3.0, 30.0]]
    assert seed.tolist() == [1.0, 10.0]
    # dy/dh = 2h + 2 + 3 = [9, -3]; times the seed, times dh/dx = 2.
    assert x.grad.tolist() == [18.0, -60.0]
    scalar = fastgrad.tensor(0.5, requires_grad=True)
    s = scalar * 4.0
    (s + s + s * s).backward()
    assert scalar.grad.item() == pytest.approx(4.0 * (2 + 2 * 2.0))


def test_x_times_x(backend: str) -> None:
    x = fastgrad.tensor([1.5, -2.0], dtype=float64, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [3.0, -4.0]


def test_gradients_accumulate_and_can_be_reset(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]
    x.grad = None
    assert x.grad is None
    x.grad = fastgrad.tensor([1.0, 1.0])
    (x * 2).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        x.grad = fastgrad.zeros(3)


def test_deep_chain(backend: str) -> None:
    n = 1_000_000 if backend == "cpp" else 100_000
    x = fastgrad.tensor(1.0, dtype=float64, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
    del y  # freeing a deep graph must not recurse either
    y = x
    for _ in range(n):
        y = y + 0.0
    del y
    gc.collect()


def test_second_backward_raises_unless_retained(backend: str) -> None:
    x = fastgrad.tensor(2.0, requires_grad=True)
    y = x.exp() * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 3 * np.exp(2.0), rel=1e-6)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_non_scalar_backward_needs_gradient(backend: str) -> None:
    x = fastgrad.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(fastgrad.ones(4))


def test_backward_without_grad_raises(backend: str) -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        fastgrad.ones(1).sum().backward()


def _live_after_backward(backend: str, retain: bool) -> tuple[int, object]:
    """Live C++ tensors (or a weakref to the saved Python handle) after one backward."""
    x = fastgrad.randn(4, requires_grad=True)
    h = x * 2.0
    y = (h * h).sum()  # mul saves h
    ref = weakref.ref(h._impl) if backend == "python" else None
    del h
    gc.collect()
    y.backward(retain_graph=retain)
    gc.collect()
    live = fastgrad._backend._BACKENDS["cpp"].live_counts()[0] if backend == "cpp" else 0
    del y, x
    gc.collect()
    return live, ref


def test_saved_tensors_freed_after_backward(backend: str) -> None:
    kept, _ref_kept = _live_after_backward(backend, retain=True)
    freed, ref_freed = _live_after_backward(backend, retain=False)
    if backend == "cpp":
        assert freed <= kept - 1  # h (saved by mul) is gone once backward has run
    else:
        assert ref_freed is not None and ref_freed() is None


def test_graph_freed_when_output_dropped(backend: str) -> None:
    x = fastgrad.randn(10, requires_grad=True)
    if backend == "cpp":
        core = fastgrad._backend._BACKENDS["cpp"]
        gc.collect()
        before = core.live_counts()
        y = (x.exp() * x).sum()
        assert core.live_counts()[1] >= before[1] + 3
        del y
        gc.collect()
        assert core.live_counts() == before
    else:
        y = (x.exp() * x).sum()
        node = weakref.ref(y.grad_fn)
        del y
        gc.collect()
        assert node() is None


def test_no_grad_and_enable_grad(backend: str) -> None:
    x = fastgrad.ones(2, requires_grad=True)
    with fastgrad.no_grad():
        y = x * 2
        assert not fastgrad.is_grad_enabled()
        with fastgrad.enable_grad():
            z = x * 2
    assert fastgrad.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @fastgrad.no_grad()
    def f(t: fastgrad.Tensor) -> fastgrad.Tensor:
        return t * 3

    assert not f(x).requires_grad


def test_hooks_and_retain_grad(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    h = x * 3
    h.register_hook(lambda g: g * 10)  # replaces the gradient flowing into h's producer
    h.retain_grad()
    h.sum().backward()
    assert h.grad.tolist() == [10.0, 10.0]
    assert seen == [[30.0, 30.0]]
    assert x.grad.tolist() == [30.0, 30.0]


def test_grad_function(backend: str) -> None:
    x = fastgrad.tensor([1.0, 2.0], dtype=float64, requires_grad=True)
    w = fastgrad.tensor([3.0, 4.0], dtype=float64, requires_grad=True)
    y = (x * w).sum()
    gx, gw = fastgrad.grad(y, [x, w])
    assert gx.tolist() == [3.0, 4.0] and gw.tolist() == [1.0, 2.0]
    assert x.grad is None and w.grad is None
    u = fastgrad.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        fastgrad.grad((x * 2).sum(), [x, u])
    gx, gu = fastgrad.grad((x * 2).sum(), [x, u], allow_unused=True)
    assert gu is None and gx.tolist() == [2.0, 2.0]


def test_grad_of_non_leaf(backend: str) -> None:
    x = fastgrad.tensor(2.0, dtype=float64, requires_grad=True)
    h = x * x
    y = h.sin()
    (gh,) = fastgrad.grad(y, h)
    assert gh.item() == pytest.approx(np.cos(4.0))


def test_third_derivative(backend: str) -> None:
    x = fastgrad.tensor(0.5, dtype=float64, requires_grad=True)
    y = x.exp() * x.tanh()
    d = y
    vals = []
    for _ in range(3):
        (d,) = fastgrad.grad(d, x, create_graph=True)
        vals.append(d.item())
    import math

    t = math.tanh(0.5)
    s2 = 1 - t * t
    # derivatives of e^x tanh x
    d1 = math.exp(0.5) * (t + s2)
    assert vals[0] == pytest.approx(d1, rel=1e-12)
    eps = 1e-5
    x2 = fastgrad.tensor(0.5 + eps, dtype=float64, requires_grad=True)
    (g1,) = fastgrad.grad(x2.exp() * x2.tanh(), x2, create_graph=True)
    (g2,) = fastgrad.grad(g1, x2)
    x3 = fastgrad.tensor(0.5 - eps, dtype=float64, requires_grad=True)
    (h1,) = fastgrad.grad(x3.exp() * x3.tanh(), x3, create_graph=True)
    (h2,) = fastgrad.grad(h1, x3)
    assert vals[2] == pytest.approx((g2.item() - h2.item()) / (2 * eps), rel=1e-5)


def test_custom_function_needs_input_grad_and_errors(backend: str) -> None:
    seen = {}

    class Scale(fastgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x, k, y):  # type: ignore[no-untyped-def]
            seen["needs"] = ctx.needs_input_grad
            ctx.k = k
            return x * k + y

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            return g * ctx.k, None, g

    x = fastgrad.ones(3, requires_grad=True)
    y = fastgrad.ones(3)
    Scale.apply(x, 2.0, y).sum().backward()
    assert seen["needs"] == (True, False, False)
    assert x.grad.tolist() == [2.0, 2.0, 2.0]

    class Bad(fastgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            return x * 1

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            return g, g

    with pytest.raises(RuntimeError, match="BadBackward"):
        Bad.apply(x).sum().backward()


def _step(seed: int, threads: int) -> tuple:
    fastgrad.set_num_threads(threads)
    r = np.random.default_rng(seed)
    x = fastgrad.tensor(r.standard_normal((300, 257)).astype(np.float32), requires_grad=True)
    w = fastgrad.tensor(r.standard_normal((257, 129)).astype(np.float32), requires_grad=True)
    y = (x @ w).relu().sigmoid()
    loss = (y * y).sum() + y.mean(0).sum() + x.exp().sum() * 1e-3
    loss.backward()
    return loss.item(), x.grad.numpy().copy(), w.grad.numpy().copy()


def test_bitwise_identical_for_any_thread_count(backend: str) -> None:
    prev = fastgrad.get_num_threads()
    try:
        a = _step(0, 1)
        b = _step(0, 2)
        c = _step(0, 3)
    finally:
        fastgrad.set_num_threads(prev)
    for u, v, w in zip(a, b, c):
        assert np.array_equal(u, v) and np.array_equal(u, w)


def test_two_python_threads_separate_graphs(backend: str) -> None:
    results: dict = {}

    def work(k: int) -> None:
        r = []
        for _ in range(20):
            r.append(_step(k, fastgrad.get_num_threads())[1])
        results[k] = r

    expected = {k: _step(k, fastgrad.get_num_threads())[1] for k in (1, 2)}
    ts = [threading.Thread(target=work, args=(k,)) for k in (1, 2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for k in (1, 2):
        for g in results[k]:
            assert np.array_equal(g, expected[k])


def test_training_steps_do_not_grow_memory(backend: str) -> None:
    import tracemalloc

    r = np.random.default_rng(0)
    x = fastgrad.tensor(r.standard_normal((16, 8)).astype(np.float32))
    w = fastgrad.tensor(r.standard_normal((8, 4)).astype(np.float32), requires_grad=True)

    def step() -> None:
        loss = ((x @ w).tanh() ** 2).mean()
        loss.backward()
        with fastgrad.no_grad():
            w.sub_(w.grad * 0.01)
        w.grad = None

    for _ in range(100):
        step()
    gc.collect()
    rss0 = rss()
    tracemalloc.start()
    snap0 = tracemalloc.take_snapshot()
    for _ in range(1500):
        step()
    gc.collect()
    snap1 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
    assert grown < 200_000, f"Python heap grew by {grown} bytes"
    if not sanitized():  # the ASan quarantine grows resident memory by design
        assert rss() - rss0 < 20_000_000


def test_leaf_shared_by_live_graphs(backend: str) -> None:
    # Regression: backward through one graph must not release the leaf's accumulator that a
    # second, still-referenced graph shares (a training loop keeping the previous loss alive).
    w = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    loss1 = (w * 2).sum()
    loss2 = (w * 3).sum()
    loss1.backward()
    loss2.backward()
    assert w.grad.tolist() == [5.0, 5.0]
    assert loss1.item() == 6.0


def _chain(w: fastgrad.Tensor, n: int) -> fastgrad.Tensor:
    h = w
    for k in range(n):
        h = (h * 1.001 + 0.01 * (k % 3)).sin() if k % 2 else h * 0.999 + w
    return h


def test_passes_on_two_threads_through_one_graph(backend: str) -> None:
    # Backward runs without the GIL: two threads run grad() through the same retained graph at
    # once (the C++ engine's per-node task hints are overwritten by the other pass all the time).
    w = fastgrad.tensor([0.3, -0.2], dtype=float64, requires_grad=True)
    h = _chain(w, 400)
    outs = [(h * h).sum(), (h.exp()).sum()]
    want = [fastgrad.grad(o, w, retain_graph=True)[0].numpy() for o in outs]
    got: dict[int, list[np.ndarray]] = {0: [], 1: []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(k: int) -> None:
        try:
            start.wait()
            for _ in range(30):
                got[k].append(fastgrad.grad(outs[k], w, retain_graph=True)[0].numpy())
        except BaseException as e:  # noqa: BLE001 (reported by the main thread)
            errors.append(e)

    ts = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    for k in (0, 1):
        assert len(got[k]) == 30
        for g in got[k]:
            assert np.array_equal(g, want[k])


def test_backward_inside_backward_through_shared_nodes(backend: str) -> None:
    # A custom Function whose backward runs a backward pass over nodes the outer pass has yet to
    # run: d/dw [F(h) + h].sum() with F(h) = 2h, where F's backward also takes d(h^2)/dw.
    w = fastgrad.tensor([0.5, 1.5], dtype=float64, requires_grad=True)
    h = _chain(w, 50)
    inner: list[np.ndarray] = []

    class Double(fastgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            return x * 2

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            with fastgrad.enable_grad():
                inner.append(fastgrad.grad((h * h).sum(), w, retain_graph=True)[0].numpy())
            return g * 2

    (got,) = fastgrad.grad((Double.apply(h) + h).sum(), w, retain_graph=True)
    (dh,) = fastgrad.grad(h.sum(), w, retain_graph=True)
    (dh2,) = fastgrad.grad((h * h).sum(), w, retain_graph=True)
    np.testing.assert_allclose(got.numpy(), 3 * dh.numpy(), rtol=1e-12)
    assert len(inner) == 1 and np.array_equal(inner[0], dh2.numpy())
