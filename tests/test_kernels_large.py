"""The paths only large or odd-sized arrays take: ReLU's bit mask (Note [ReLU mask]) and the
streamed outputs of big elementwise maps (Note [Streaming stores], from 8 MiB), on 1 and 2
threads, against NumPy computed here, on both backends."""

from __future__ import annotations

from typing import Any

import fastgrad
import numpy as np
import pytest

BIG32 = (1 << 21) + 5  # float32 elements: just over 8 MiB, so the output is streamed
SIZES = [1, 7, 8, 9, 33, 257, 16384 * 2 + 3, BIG32]


@pytest.fixture(params=[1, 2])
def threads(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    prev = fastgrad.get_num_threads()
    fastgrad.set_num_threads(request.param)
    yield request.param
    fastgrad.set_num_threads(prev)


def _data(rng: np.random.Generator, n: int, dtype: Any) -> np.ndarray:
    x = rng.standard_normal(n).astype(dtype)
    x[::5] = 0.0  # exact zeros: ReLU's gradient there is 0, as in PyTorch
    x[3::11] = -0.0
    return x


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_value_and_gradient(backend: str, threads: int, rng: np.random.Generator, n: int,
                                 dtype: Any) -> None:
    xa = _data(rng, n, dtype)
    ga = rng.standard_normal(n).astype(dtype)
    x = fastgrad.tensor(xa, requires_grad=True)
    y = x.relu()
    y.backward(fastgrad.tensor(ga))
    assert np.array_equal(y.detach().numpy(), np.where(xa > 0, xa, 0).astype(dtype))
    assert np.array_equal(x.grad.numpy(), np.where(xa > 0, ga, 0).astype(dtype))


def test_relu_nan_gives_zero_and_no_gradient(backend: str) -> None:
    xa = np.array([np.nan, 1.0, -np.inf, np.inf, -1.0, np.nan, 2.0, 0.5, np.nan], np.float32)
    x = fastgrad.tensor(xa, requires_grad=True)
    y = x.relu()
    y.sum().backward()
    assert np.array_equal(y.detach().numpy(), [0, 1, 0, np.inf, 0, 0, 2, 0.5, 0])
    assert np.array_equal(x.grad.numpy(), [0, 1, 0, 1, 0, 0, 1, 1, 0])


@pytest.mark.parametrize("n", [9, BIG32])
def test_relu_with_broadcast_and_strided_gradients(backend: str, threads: int,
                                                   rng: np.random.Generator, n: int) -> None:
    xa = _data(rng, n, np.float32)
    x = fastgrad.tensor(xa, requires_grad=True)
    x.relu().sum().backward()  # the gradient arrives as an expanded (stride 0) tensor
    assert np.array_equal(x.grad.numpy(), (xa > 0).astype(np.float32))
    # a strided input takes the plain path; a strided gradient is made contiguous first
    m = fastgrad.tensor(xa[: n - n % 3].reshape(3, -1), requires_grad=True)
    ga = rng.standard_normal((m.shape[1], 3)).astype(np.float32)
    m.T.relu().backward(fastgrad.tensor(ga))
    want = np.where(m.detach().numpy() > 0, ga.T, 0)
    assert np.array_equal(m.grad.numpy(), want)
    h = fastgrad.tensor(xa[: n - n % 3].reshape(3, -1), requires_grad=True)
    h.relu().backward(fastgrad.tensor(ga).T)
    assert np.array_equal(h.grad.numpy(), want)


@pytest.mark.parametrize("n", [33, BIG32 // 4])
def test_relu_double_backward(backend: str, rng: np.random.Generator, n: int) -> None:
    xa = _data(rng, n, np.float64)
    ga = rng.standard_normal(n)
    va = rng.standard_normal(n)
    x = fastgrad.tensor(xa, requires_grad=True)
    g = fastgrad.tensor(ga, requires_grad=True)
    (gx,) = fastgrad.grad(x.relu(), x, g, create_graph=True)
    assert np.array_equal(gx.detach().numpy(), np.where(xa > 0, ga, 0))
    (gg,) = fastgrad.grad((gx * fastgrad.tensor(va)).sum(), g)
    assert np.array_equal(gg.numpy(), np.where(xa > 0, va, 0))


def test_relu_gradients_bitwise_for_any_thread_count(backend: str,
                                                     rng: np.random.Generator) -> None:
    xa = _data(rng, BIG32, np.float32)
    ga = rng.standard_normal(BIG32).astype(np.float32)
    prev = fastgrad.get_num_threads()
    got = []
    try:
        for t in (1, 2, 3):
            fastgrad.set_num_threads(t)
            x = fastgrad.tensor(xa, requires_grad=True)
            x.relu().backward(fastgrad.tensor(ga))
            got.append(x.grad.numpy().copy())
    finally:
        fastgrad.set_num_threads(prev)
    assert np.array_equal(got[0], got[1]) and np.array_equal(got[0], got[2])


# --- streamed outputs of large maps ------------------------------------------------------------
def test_streamed_unary_maps(backend: str, threads: int, rng: np.random.Generator) -> None:
    a = rng.standard_normal((1031, 2053)).astype(np.float32)  # 8.1 MiB, odd row length
    x = fastgrad.tensor(a)
    np.testing.assert_array_equal((-x).numpy(), -a)
    np.testing.assert_array_equal(x.abs().numpy(), np.abs(a))
    np.testing.assert_allclose(x.exp().numpy(), np.exp(a), rtol=2e-7)
    np.testing.assert_allclose(x.sigmoid().numpy(), 1 / (1 + np.exp(-a)), rtol=1e-6)
    # a transposed (strided) input: rows are gathered, output rows start off 16-byte alignment
    t = fastgrad.tensor(a).T
    np.testing.assert_array_equal((-t).numpy(), -a.T)
    np.testing.assert_allclose(t.exp().numpy(), np.exp(a.T), rtol=2e-7)


def test_streamed_binary_maps(backend: str, threads: int, rng: np.random.Generator) -> None:
    a = rng.standard_normal((1031, 2053)).astype(np.float32)
    b = rng.standard_normal((1031, 2053)).astype(np.float32)
    r = rng.standard_normal(2053).astype(np.float32)
    c = rng.standard_normal((1031, 1)).astype(np.float32)
    x, y = fastgrad.tensor(a), fastgrad.tensor(b)
    np.testing.assert_array_equal((x * y).numpy(), a * b)
    np.testing.assert_array_equal((x + fastgrad.tensor(r)).numpy(), a + r)
    np.testing.assert_array_equal((fastgrad.tensor(c) - x).numpy(), c - a)
    np.testing.assert_array_equal((x * 3.0).numpy(), a * np.float32(3.0))
    np.testing.assert_array_equal((x.T * y.T).numpy(), (a * b).T)
    np.testing.assert_array_equal((x > y).numpy(), a > b)
    d = rng.standard_normal(BIG32 // 2)  # float64: 8 MiB
    np.testing.assert_array_equal((fastgrad.tensor(d) * fastgrad.tensor(d)).numpy(), d * d)


def test_t_transposes_matrices_only(backend: str) -> None:
    m = fastgrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert m.t().tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    assert fastgrad.tensor([1.0, 2.0]).t().tolist() == [1.0, 2.0]
    with pytest.raises(RuntimeError, match=r"t: expects a tensor of at most 2 dims"):
        fastgrad.zeros(2, 3, 4).t()


# --- tanh: the vectorised kernel (kernels/vmath.h tanh_core) ----------------------------------
def _ulps(got: np.ndarray, want: np.ndarray, dtype: Any) -> np.ndarray:
    """|got - want| in units of the last place of want rounded to dtype."""
    spacing = np.spacing(np.abs(want).astype(dtype)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / spacing


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_within_two_ulp_contiguous_and_strided(backend: str, threads: int, dtype: Any,
                                                    rng: np.random.Generator) -> None:
    # Both sides of the switch at |x| = 0.625, the range where the result rounds to 1, tiny and
    # subnormal inputs, and an odd length so the vector loop has a tail.
    x = np.concatenate([np.linspace(-12, 12, 600_001), rng.standard_normal(100_003) * 3,
                        np.logspace(-40, 1.2, 50_000), -np.logspace(-300, 0, 50_000),
                        np.nextafter(0.625, [0, 1]), [20.0, 25.0, 400.0]]).astype(dtype)
    want = np.tanh(x.astype(np.float64)) if dtype == np.float32 else np.tanh(x)
    got = fastgrad.tensor(x).tanh().numpy()
    assert got.dtype == dtype
    assert _ulps(got, want, dtype).max() <= 2.0
    strided = fastgrad.tensor(np.stack([x, -x], axis=1))[:, 0].tanh().numpy()
    assert _ulps(strided, want, dtype).max() <= 2.0
    # the gradient is 1 - tanh(x)^2 from the saved output
    t = fastgrad.tensor(x[:1001], requires_grad=True)
    t.tanh().sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 1 - got[:1001].astype(np.float64) ** 2,
                               rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_special_values(backend: str, dtype: Any) -> None:
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30], dtype)
    got = fastgrad.tensor(x).tanh().numpy()
    assert np.isnan(got[0])
    assert got[1:3].tolist() == [1.0, -1.0]
    assert got[3] == 0 and not np.signbit(got[3]) and np.signbit(got[4])
    assert got[5:].tolist() == x[5:].tolist()  # tanh(x) = x to the last bit for tiny x


# --- log: the vectorised kernel (kernels/vmath.h log_core) -------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_within_one_ulp_contiguous_and_strided(backend: str, threads: int, dtype: Any,
                                                   rng: np.random.Generator) -> None:
    # The whole positive range (subnormals included), both sides of the switch at sqrt(2) and
    # the neighbourhood of 1 where log is small, an odd length for the vector loop's tail.
    info = np.finfo(dtype)
    lo = np.log10(float(info.smallest_subnormal))
    x = np.concatenate([np.logspace(lo, np.log10(float(info.max)) - 0.01, 400_001),
                        rng.uniform(0.5, 2.0, 100_003), 1 + rng.uniform(-1e-3, 1e-3, 50_000),
                        np.nextafter(np.sqrt(2), [0, 3]), [info.tiny, info.max, 1.0]]).astype(dtype)
    x = x[x > 0]
    want = np.log(x.astype(np.float64)) if dtype == np.float32 else np.log(x)
    got = fastgrad.tensor(x).log().numpy()
    assert got.dtype == dtype
    # The C++ kernel is within 1 ulp; the Python backend is NumPy's float32 log (3.2 ulp here).
    bound = 1.0 if backend == "cpp" else 4.0
    err = np.where(want == 0, np.abs(got) > 0, _ulps(got, want, dtype))
    assert err.max() <= bound
    strided = fastgrad.tensor(np.stack([x, x + 1], axis=1))[:, 0].log().numpy()
    assert np.where(want == 0, np.abs(strided) > 0, _ulps(strided, want, dtype)).max() <= bound
    mid = x[(x > 0.5) & (x < 2.0)][:1001]
    t = fastgrad.tensor(mid, requires_grad=True)  # the gradient is 1 / x
    t.log().sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 1 / mid.astype(np.float64), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_special_values(backend: str, dtype: Any) -> None:
    x = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0], dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log(x)
    for t in (fastgrad.tensor(x), fastgrad.tensor(np.stack([x, x], axis=1))[:, 0]):
        got = t.log().numpy()
        np.testing.assert_array_equal(got, want)  # NaNs in the same places
        assert got[6] == 0 and not np.signbit(got[6])


# --- expanded (stride-0) rows: one value per row, as sum's gradient is -------------------------
def test_maps_and_reductions_of_expanded_tensors(backend: str, threads: int,
                                                 rng: np.random.Generator) -> None:
    col = rng.standard_normal((1031, 1)).astype(np.float32)
    e = fastgrad.broadcast_to(fastgrad.tensor(col), (1031, 2053))  # rows of stride 0
    want = np.broadcast_to(col, (1031, 2053))
    np.testing.assert_array_equal(e.contiguous().numpy(), want)
    np.testing.assert_array_equal((-e).numpy(), -want)
    np.testing.assert_allclose(e.exp().numpy(), np.exp(want), rtol=2e-7)
    np.testing.assert_array_equal((e * 3.0).numpy(), want * np.float32(3.0))
    two = fastgrad.broadcast_to(fastgrad.tensor(col[:1, :1] + 1), (1031, 2053))
    np.testing.assert_array_equal((e * two).numpy(), want * (col[0, 0] + 1))  # both expanded
    for dims in ((0,), (1,), (0, 1)):
        np.testing.assert_allclose(e.sum(dims).numpy(), want.astype(np.float64).sum(dims),
                                   rtol=1e-4, atol=1e-3)
    x = fastgrad.tensor(rng.standard_normal((1031, 2053)).astype(np.float32),
                        requires_grad=True)
    x.sum().backward()  # its gradient is an expanded 1
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((1031, 2053), np.float32))
