"""The worked examples of the lecture notes (shared/SEED_EXAMPLES.md), with their numbers, on both
backends. Examples 10-11 check higher order, 12-13 the functional transforms (jacobian, vjp, jvp)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import fastgrad
import numpy as np
import pytest
from fastgrad import float64
from fastgrad.autograd.functional import hvp, jacobian, jvp, vjp


def scalar(v: float) -> fastgrad.Tensor:
    return fastgrad.tensor(v, dtype=float64, requires_grad=True)


def test_seed1_add_mul_gates(backend: str) -> None:
    x, y, z = scalar(-2.0), scalar(5.0), scalar(-4.0)
    q = x + y
    f = q * z
    f.backward()
    assert q.item() == 3.0 and f.item() == -12.0
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


def test_seed2_fan_out_and_sin(backend: str) -> None:
    x1, x2 = scalar(2.0), scalar(3.0)
    f = x1 * x2 + x1.sin()
    f.backward()
    assert f.item() == pytest.approx(6.9093, abs=1e-4)
    assert x1.grad.item() == pytest.approx(3 + math.cos(2.0), abs=1e-12)  # 2.5839
    assert x1.grad.item() == pytest.approx(2.5839, abs=1e-4)
    assert x2.grad.item() == 2.0


def _neuron_inputs() -> list:
    return [scalar(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0)]  # w0, x0, w1, x1, w2


EXPECTED3 = [-0.1966, 0.3932, -0.3932, -0.5898, 0.1966]


def test_seed3_sigmoid_neuron_primitives_and_fused(backend: str) -> None:
    w0, x0, w1, x1, w2 = ins = _neuron_inputs()
    s = w0 * x0 + w1 * x1 + w2
    f = 1.0 / (1.0 + (-s).exp())  # mul, add, neg, exp, add 1, reciprocal
    f.backward()
    assert s.item() == 1.0
    assert f.item() == pytest.approx(0.7311, abs=1e-4)
    prim = [t.grad.item() for t in ins]
    assert prim == pytest.approx(EXPECTED3, abs=1e-4)

    ins2 = _neuron_inputs()
    w0, x0, w1, x1, w2 = ins2
    s2 = w0 * x0 + w1 * x1 + w2
    f2 = s2.sigmoid()
    (ds,) = fastgrad.grad(f2, s2, retain_graph=True)
    assert ds.item() == pytest.approx(0.1966, abs=1e-4)
    f2.backward()
    fused = [t.grad.item() for t in ins2]
    assert fused == pytest.approx(prim, abs=1e-12)


def test_seed4_max_gate_routes(backend: str) -> None:
    x, y = scalar(4.0), scalar(2.0)
    f = fastgrad.maximum(x, y)
    f.backward(fastgrad.tensor(5.0, dtype=float64))
    assert (x.grad.item(), y.grad.item()) == (5.0, 0.0)


def test_seed5_relu_mask(backend: str) -> None:
    x = fastgrad.tensor([1.0, -2.0, 3.0, -1.0], requires_grad=True)
    y = x.relu()
    y.backward(fastgrad.tensor([4.0, -1.0, 5.0, 9.0]))
    assert y.tolist() == [1.0, 0.0, 3.0, 0.0]
    assert x.grad.tolist() == [4.0, 0.0, 5.0, 0.0]


def test_seed6_matmul_gradients_shapes(backend: str, rng: np.random.Generator) -> None:
    x_np, w_np, g_np = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    x = fastgrad.tensor(x_np, requires_grad=True)
    w = fastgrad.tensor(w_np, requires_grad=True)
    y = x @ w
    y.backward(fastgrad.tensor(g_np))
    np.testing.assert_allclose(x.grad.numpy(), g_np @ w_np.T, rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), x_np.T @ g_np, rtol=1e-12)
    assert x.grad.shape == x.shape and w.grad.shape == w.shape


# Run in a fresh process so that its peak resident memory measures this case alone: the memory
# it adds to what x and w already hold is at most the peak minus the resident memory before.
# VmHWM, not getrusage's ru_maxrss, which a child keeps from its parent across fork and exec.
_LARGE_MATMUL = """
import re, sys
import fastgrad, numpy as np
def status(key):
    with open("/proc/self/status") as f:
        return int(re.search(key + r":\\s+(\\d+) kB", f.read()).group(1)) * 1024
fastgrad.set_backend(sys.argv[1])
fastgrad.manual_seed(0)
x = fastgrad.randn(64, 4096, requires_grad=True)
w = fastgrad.randn(4096, 4096, requires_grad=True)
g = fastgrad.ones(64, 4096)
before = status("VmRSS")
y = x @ w
y.backward(g)
peak = status("VmHWM")
assert x.grad.shape == (64, 4096) and w.grad.shape == (4096, 4096)
# dL/dx = 1 @ w.T: each row is w's row sums; dL/dw = x.T @ 1: each column is x's column sums.
np.testing.assert_allclose(x.grad.numpy()[0], w.detach().numpy().sum(1), rtol=1e-3, atol=1e-2)
np.testing.assert_allclose(w.grad.numpy()[:, 0], x.detach().numpy().sum(0), rtol=1e-3, atol=1e-2)
print(peak - before)
"""


def test_seed6_large_matmul_without_jacobian(backend: str) -> None:
    # N = 64, D = M = 4096: an explicit Jacobian dy/dx would take (64 * 4096)^2 * 4 bytes = 256 GiB
    # (dy/dw 64 times more). The forward and backward must fit in a few hundred MB beyond x and w:
    # y, the two gradients (65 MiB) and temporaries, 127-132 MiB measured on either backend.
    # 512 MiB leaves room for the sanitizer build's quarantine of freed blocks (up to 256 MiB) and
    # is 512 times below any Jacobian, which could not even be allocated (MemoryError).
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(fastgrad.__file__).parent.parent),
                                         env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-c", _LARGE_MATMUL, backend], capture_output=True,
                       text=True, env=env, check=False, timeout=300)
    assert r.returncode == 0, r.stderr
    added = int(r.stdout.split()[-1])
    assert added < 512 << 20, f"x @ w and its backward added {added / 2**20:.0f} MiB"


def test_seed7_vectorized_l2(backend: str) -> None:
    W = fastgrad.tensor([[0.1, 0.5], [-0.3, 0.8]], dtype=float64, requires_grad=True)
    x = fastgrad.tensor([0.2, 0.4], dtype=float64, requires_grad=True)
    q = W @ x
    f = (q * q).sum()
    q.retain_grad()
    f.backward()
    np.testing.assert_allclose(q.detach().numpy(), [0.22, 0.26], atol=1e-12)
    assert f.item() == pytest.approx(0.116, abs=1e-12)
    np.testing.assert_allclose(q.grad.numpy(), [0.44, 0.52], atol=1e-12)
    np.testing.assert_allclose(W.grad.numpy(), [[0.088, 0.176], [0.104, 0.208]], atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), [-0.112, 0.636], atol=1e-12)


def test_seed8_softmax_cross_entropy_gradient(backend: str, rng: np.random.Generator) -> None:
    s_np = rng.standard_normal((4, 5))
    y = np.array([0, 3, 1, 4])
    s = fastgrad.tensor(s_np, requires_grad=True)
    logp = s.log_softmax(1)
    loss = -logp[fastgrad.arange(4), fastgrad.tensor(y)].mean()
    loss.backward()
    p = np.exp(s_np) / np.exp(s_np).sum(1, keepdims=True)
    onehot = np.eye(5)[y]
    np.testing.assert_allclose(s.grad.numpy(), (p - onehot) / 4, rtol=1e-10, atol=1e-12)
    assert loss.item() == pytest.approx(-np.mean(np.log(p[np.arange(4), y])), rel=1e-12)


def test_seed8_multiclass_hinge(backend: str) -> None:
    # The lecture's SVM loss: sum over j != y of max(0, s_j - s_y + 1).
    s = fastgrad.tensor([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]], dtype=float64,
                        requires_grad=True)
    y = fastgrad.tensor([0, 1, 2])
    correct = s[fastgrad.arange(3), y].unsqueeze(1)
    margins = fastgrad.maximum(s - correct + 1.0, 0.0)
    mask = fastgrad.tensor(1.0 - np.eye(3), dtype=float64)
    losses = (margins * mask).sum(1)
    np.testing.assert_allclose(losses.detach().numpy(), [2.9, 0.0, 12.9], atol=1e-12)
    losses.mean().backward()
    # class 0's row: margins of j=1 (2.9) positive, j=2 negative -> ds[0] = [-1, 1, 0] / 3
    np.testing.assert_allclose(s.grad.numpy()[0], [-1 / 3, 1 / 3, 0], atol=1e-12)


def test_seed9_custom_multiply_function(backend: str) -> None:
    class Multiply(fastgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):  # type: ignore[no-untyped-def]
            ctx.save_for_backward(x, y)
            return x * y

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            x, y = ctx.saved_tensors
            return g * y, g * x

    x, y, z = scalar(-2.0), scalar(5.0), scalar(-4.0)
    f = Multiply.apply(x + y, z).exp() * 2  # inside a larger graph
    assert "Multiply" in f.grad_fn.next_functions[0][0].next_functions[0][0].name()
    f.backward()
    e = math.exp(-12.0) * 2
    assert x.grad.item() == pytest.approx(-4 * e)
    assert z.grad.item() == pytest.approx(3 * e)


def test_seed10_second_derivative(backend: str) -> None:
    x = scalar(1.0)
    y = x.sin() * x ** 2
    (dy,) = fastgrad.grad(y, x, create_graph=True)
    assert dy.item() == pytest.approx(math.cos(1) + 2 * math.sin(1), abs=1e-12)  # 2.2232
    assert dy.item() == pytest.approx(2.2232, abs=1e-4)
    (d2y,) = fastgrad.grad(dy, x)
    assert d2y.item() == pytest.approx(3.0027, abs=1e-4)
    assert d2y.item() == pytest.approx(-math.sin(1) + 4 * math.cos(1) + 2 * math.sin(1), abs=1e-12)


def test_seed11_hessian_vector_product(backend: str, rng: np.random.Generator) -> None:
    W = fastgrad.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    v = fastgrad.tensor(rng.standard_normal((3, 4)))
    R = (W * W).sum()
    (g,) = fastgrad.grad(R, W, create_graph=True)
    (hv,) = fastgrad.grad((g * v).sum(), W)
    np.testing.assert_allclose(hv.numpy(), 2 * v.numpy(), rtol=1e-12)


def test_seed11_hvp_functional(backend: str, rng: np.random.Generator) -> None:
    W = fastgrad.tensor(rng.standard_normal((3, 4)))
    v = fastgrad.tensor(rng.standard_normal((3, 4)))
    R, hv = hvp(lambda w: (w * w).sum(), W, v)
    np.testing.assert_allclose(hv.numpy(), 2 * v.numpy(), rtol=1e-12)
    assert R.item() == pytest.approx(float((W.numpy() ** 2).sum()), rel=1e-12)


def _seed12(x: fastgrad.Tensor, y: fastgrad.Tensor) -> tuple:
    return x ** 4 + 3 * y ** 2 * x, 5 * y ** 2 - 2 * x * y + 1


SEED12_JACOBIAN = [[16.0, 12.0], [-4.0, 18.0]]


def test_seed12_jacobian(backend: str) -> None:
    x, y = fastgrad.tensor(1.0, dtype=float64), fastgrad.tensor(2.0, dtype=float64)
    J = jacobian(_seed12, (x, y))
    assert [[J[i][j].item() for j in range(2)] for i in range(2)] == SEED12_JACOBIAN
    assert not x.requires_grad and J[0][0].grad_fn is None


def test_seed12_rows_by_vjp_columns_by_jvp(backend: str) -> None:
    def f(v: fastgrad.Tensor) -> fastgrad.Tensor:
        return fastgrad.stack(list(_seed12(v[0], v[1])))

    p = fastgrad.tensor([1.0, 2.0], dtype=float64)
    assert jacobian(f, p).tolist() == SEED12_JACOBIAN
    e = [fastgrad.tensor(r, dtype=float64) for r in ([1.0, 0.0], [0.0, 1.0])]
    rows = [vjp(f, p, e[i])[1].tolist() for i in range(2)]
    cols = [jvp(f, p, e[j])[1].tolist() for j in range(2)]
    assert rows == SEED12_JACOBIAN
    assert [[cols[j][i] for j in range(2)] for i in range(2)] == SEED12_JACOBIAN
    out, _ = jvp(f, p, e[0])
    assert out.tolist() == [13.0, 17.0]  # f(1, 2)


def test_seed13_forward_vs_reverse_mode(backend: str, rng: np.random.Generator) -> None:
    def f(x: fastgrad.Tensor) -> fastgrad.Tensor:
        return (x.sin() * x).sum() + (x * x).sum().sqrt()

    a = rng.standard_normal(5)
    x = fastgrad.tensor(a, requires_grad=True)
    f(x).backward()  # one reverse pass: the whole gradient
    expected = np.sin(a) + a * np.cos(a) + a / np.sqrt((a * a).sum())
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
    forward = []
    for i in range(5):  # one jvp per basis vector: one entry of the gradient per pass
        e = np.zeros(5)
        e[i] = 1.0
        forward.append(jvp(f, fastgrad.tensor(a), fastgrad.tensor(e))[1].item())
    np.testing.assert_allclose(forward, expected, rtol=1e-12)


def test_seed14_two_layer_shapes(backend: str) -> None:
    x = fastgrad.randn(32, 100)
    w = fastgrad.randn(1, 100, requires_grad=True)
    b = fastgrad.zeros(1, requires_grad=True)
    out = x @ w.T + b
    out.sum().backward()
    assert w.grad.shape == (1, 100) and b.grad.shape == (1,)
    np.testing.assert_allclose(w.grad.numpy()[0], x.numpy().sum(0), rtol=1e-5)
    assert b.grad.item() == 32.0


def test_seed15_flat_code_matches_engine(backend: str) -> None:
    w0, x0, w1, x1, w2 = 2.0, -1.0, -3.0, -2.0, -3.0
    # forward, flat
    s0, s1 = w0 * x0, w1 * x1
    s2 = s0 + s1
    s3 = s2 + w2
    L = 1 / (1 + math.exp(-s3))
    # backward, flat
    grad_L = 1.0
    grad_s3 = grad_L * (1 - L) * L
    grad_w2 = grad_s3
    grad_s2 = grad_s3
    grad_s0 = grad_s1 = grad_s2
    grad_w1, grad_x1 = grad_s1 * x1, grad_s1 * w1
    grad_w0, grad_x0 = grad_s0 * x0, grad_s0 * w0
    ins = _neuron_inputs()
    a, b, c, d, e = ins
    (a * b + c * d + e).sigmoid().backward()
    assert [t.grad.item() for t in ins] == pytest.approx(
        [grad_w0, grad_x0, grad_w1, grad_x1, grad_w2], abs=1e-12)
