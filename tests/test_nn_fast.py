"""The nn fast paths of issue 19: the fused ``linear`` primitive (F.linear), ``cross_entropy_reduced``
(F.cross_entropy), SGD's one-call step, zero_grad and from_numpy. Values against NumPy, the other
backend and PyTorch in float64 (first and second derivatives), and the errors, which must be the
ones the general code raised before. Not here: speed (bench/bench_nn.py)."""

from __future__ import annotations

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn, optim
from fastgrad.nn import functional as F
from fastgrad.nn.functional import TargetOutOfRangeError
from fastgrad.tensor import _wrap


def lin(x: fastgrad.Tensor, w: fastgrad.Tensor, b: fastgrad.Tensor | None) -> fastgrad.Tensor:
    """The backend primitive itself."""
    bk = x._b
    return _wrap(bk.linear(x._impl, w._impl, None if b is None else b._impl), bk)


def t64(a: np.ndarray, grad: bool = True) -> fastgrad.Tensor:
    return fastgrad.tensor(a, dtype=fastgrad.float64, requires_grad=grad)


# --- linear -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_primitive_values_and_grads(backend: str, rng: np.random.Generator, bias: bool,
                                           dtype: type) -> None:
    xa, wa, ba = (rng.standard_normal(s).astype(dtype) for s in ((5, 3), (4, 3), (4,)))
    ga = rng.standard_normal((5, 4)).astype(dtype)
    x, w = fastgrad.tensor(xa, requires_grad=True), fastgrad.tensor(wa, requires_grad=True)
    b = fastgrad.tensor(ba, requires_grad=True) if bias else None
    y = lin(x, w, b)
    want = xa.astype(np.float64) @ wa.T.astype(np.float64) + (ba if bias else 0)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert y.dtype == x.dtype and y.shape == (5, 4)
    assert y.grad_fn.name() == "LinearBackward"
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=tol, atol=tol)
    y.backward(fastgrad.tensor(ga))
    np.testing.assert_allclose(x.grad.numpy(), ga @ wa, rtol=tol, atol=tol)
    np.testing.assert_allclose(w.grad.numpy(), ga.T @ xa, rtol=tol, atol=tol)
    assert w.grad.is_contiguous()
    if bias:
        np.testing.assert_allclose(b.grad.numpy(), ga.sum(0), rtol=tol, atol=tol)


def test_linear_primitive_strided_operands(backend: str, rng: np.random.Generator) -> None:
    # a transposed input and a transposed weight are read in place (any unit-stride layout)
    xa, wa = rng.standard_normal((3, 5)), rng.standard_normal((3, 4))
    x, w = t64(xa).T, t64(wa).T  # (5, 3) and (4, 3) views
    y = lin(x, w, None)
    np.testing.assert_allclose(y.detach().numpy(), xa.T @ wa, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_bitwise_as_matmul_then_bias(backend: str, rng: np.random.Generator,
                                            dtype: str) -> None:
    # the bias is added after the product (the GEMM's epilogue), as `x @ w.T + b` adds it; a
    # K of 700 spans several k blocks, where adding it first would round differently
    for m, k, n in ((32, 64, 128), (5, 700, 9), (1, 3, 1)):
        x, w, b = (fastgrad.tensor(rng.standard_normal(s).astype(dtype))
                   for s in ((m, k), (n, k), (n,)))
        np.testing.assert_array_equal(F.linear(x, w, b).numpy(), (x @ w.T + b).numpy())
        bs = fastgrad.tensor(rng.standard_normal(2 * n).astype(dtype))[::2]  # strided bias
        np.testing.assert_array_equal(F.linear(x, w, bs).numpy(), (x @ w.T + bs).numpy())


def test_linear_skips_grads_not_needed(backend: str, rng: np.random.Generator) -> None:
    x = t64(rng.standard_normal((2, 3)), grad=False)
    w, b = t64(rng.standard_normal((4, 3))), t64(rng.standard_normal(4), grad=False)
    lin(x, w, b).sum().backward()
    assert x.grad is None and b.grad is None
    np.testing.assert_allclose(w.grad.numpy(), np.ones((4, 2)) @ x.numpy(), rtol=1e-12)
    with fastgrad.no_grad():
        assert lin(x, w, b).grad_fn is None


def test_linear_backends_agree(rng: np.random.Generator) -> None:
    if "cpp" not in fastgrad._backend.available():
        pytest.skip("the C++ backend did not import")
    arrays = [rng.standard_normal(s) for s in ((6, 5), (3, 5), (3,), (6, 3))]
    out = {}
    for name in ("cpp", "python"):
        prev = fastgrad.get_backend()
        fastgrad.set_backend(name)
        try:
            x, w, b = (t64(a) for a in arrays[:3])
            y = lin(x, w, b)
            y.backward(fastgrad.tensor(arrays[3]))
            out[name] = [y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()]
        finally:
            fastgrad.set_backend(prev)
    for a, b in zip(out["cpp"], out["python"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck_and_gradgradcheck(backend: str, rng: np.random.Generator,
                                            bias: bool) -> None:
    ins = [t64(rng.standard_normal(s)) for s in ((3, 4), (2, 4), (2,))]
    fn = (lambda x, w, b: lin(x, w, b)) if bias else (lambda x, w: lin(x, w, None))
    ins = ins if bias else ins[:2]
    assert fastgrad.gradcheck(fn, tuple(ins))
    assert fastgrad.autograd.gradgradcheck(fn, tuple(ins))


def test_linear_matches_torch_float64(backend: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    xa, wa, ba, ga = (rng.standard_normal(s) for s in ((4, 3), (5, 3), (5,), (4, 5)))
    x, w, b = t64(xa), t64(wa), t64(ba)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    y, ty = F.linear(x, w, b), torch.nn.functional.linear(tx, tw, tb)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    # second order: d/d(x, w, b) of <grad_x(<y, g>), v> with create_graph
    g = fastgrad.tensor(ga, requires_grad=True)
    tg = torch.tensor(ga, requires_grad=True)
    (dx, dw) = fastgrad.grad(y, (x, w), g, create_graph=True)
    (tdx, tdw) = torch.autograd.grad(ty, (tx, tw), tg, create_graph=True)
    np.testing.assert_allclose(dx.detach().numpy(), tdx.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dw.detach().numpy(), tdw.detach().numpy(), rtol=1e-12)
    ((dx * dx).sum() + (dw * dw).sum()).backward()
    ((tdx * tdx).sum() + (tdw * tdw).sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g.grad.numpy(), tg.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 2, 3), (2, 1, 2, 3)])
def test_f_linear_ranks(backend: str, rng: np.random.Generator, shape: tuple) -> None:
    xa, wa, ba = rng.standard_normal(shape), rng.standard_normal((4, 3)), rng.standard_normal(4)
    x, w, b = t64(xa), t64(wa), t64(ba)
    y = F.linear(x, w, b)
    assert y.shape == shape[:-1] + (4,)
    np.testing.assert_allclose(y.detach().numpy(), xa @ wa.T + ba, rtol=1e-12)
    y.sum().backward()
    g = np.ones(shape[:-1] + (4,))
    np.testing.assert_allclose(x.grad.numpy(), g @ wa, rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), g.reshape(-1, 4).T @ xa.reshape(-1, 3),
                               rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), g.reshape(-1, 4).sum(0), rtol=1e-12)


def test_f_linear_general_cases_unchanged(backend: str, rng: np.random.Generator) -> None:
    # what the primitive rejects takes the general code: promotion, a 0-d bias
    x = fastgrad.tensor(rng.standard_normal((2, 3)).astype(np.float32))
    w = t64(rng.standard_normal((4, 3)))
    assert F.linear(x, w).dtype == fastgrad.float64
    b0 = t64(np.array(0.5))
    np.testing.assert_allclose(F.linear(x.double(), w, b0).detach().numpy(),
                               x.double().numpy() @ w.detach().numpy().T + 0.5, rtol=1e-12)


def test_f_linear_errors_unchanged(backend: str) -> None:
    x, w = fastgrad.randn(2, 3), fastgrad.randn(4, 3)
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 5\) does not match weight"):
        F.linear(fastgrad.randn(2, 5), w)
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\) does not match weight"):
        F.linear(x, w, fastgrad.randn(3))
    with pytest.raises(ValueError, match="linear: weight must be 2-D"):
        F.linear(x, fastgrad.randn(3))
    with pytest.raises(TypeError, match="linear: expected a Tensor"):
        F.linear([1.0, 2.0, 3.0], w)


def test_linear_primitive_errors(backend: str) -> None:
    x, w = fastgrad.randn(2, 3), fastgrad.randn(4, 3)
    with pytest.raises(ValueError, match="linear: input"):
        lin(fastgrad.randn(2, 5), w, None)
    with pytest.raises(ValueError, match="linear: bias of shape"):
        lin(x, w, fastgrad.randn(5))
    with pytest.raises(TypeError, match="linear: dtypes"):
        lin(x, w.double(), None)
    with pytest.raises(TypeError, match="linear: expected floating-point"):
        lin(fastgrad.tensor([[1, 2, 3]]), fastgrad.tensor([[1, 2, 3]]), None)


def test_nn_linear_hooks_and_state_dict(backend: str) -> None:
    m = nn.Linear(3, 2)
    seen = []
    h = m.register_forward_hook(lambda mod, args, out: seen.append(out.shape))
    y = m(fastgrad.randn(4, 3))
    assert seen == [(4, 2)] and y.grad_fn.name() == "LinearBackward"
    h.remove()
    assert list(m.state_dict()) == ["weight", "bias"]
    m2 = nn.Linear(3, 2, bias=False)
    assert m2(fastgrad.randn(4, 3)).shape == (4, 2) and m2.bias is None


# --- cross_entropy ----------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_fast_matches_torch(backend: str, rng: np.random.Generator,
                                          reduction: str) -> None:
    torch = torch_or_skip()
    xa, ta = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    x = t64(xa)
    tx = torch.tensor(xa, requires_grad=True)
    y = F.cross_entropy(x, fastgrad.tensor(ta), reduction=reduction)
    ty = torch.nn.functional.cross_entropy(tx, torch.tensor(ta), reduction=reduction)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    ga = rng.standard_normal(ty.shape)
    y.backward(fastgrad.tensor(ga))
    ty.backward(torch.tensor(ga))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_cross_entropy_fast_graph_and_second_order(backend: str, rng: np.random.Generator) -> None:
    x = t64(rng.standard_normal((3, 4)))
    t = fastgrad.tensor([0, 3, 1])
    y = F.cross_entropy(x, t)
    assert y.grad_fn.name() == "DivBackward"  # the nodes of the composite it replaces
    assert fastgrad.gradcheck(lambda v: F.cross_entropy(v, t), (x,))
    assert fastgrad.autograd.gradgradcheck(lambda v: F.cross_entropy(v, t), (x,))


def test_cross_entropy_errors_unchanged(backend: str) -> None:
    x = fastgrad.randn(3, 4)
    with pytest.raises(TargetOutOfRangeError,
                       match=r"cross_entropy: target 4 is out of bounds for 4 classes "
                             r"\(valid: 0 <= target < 4\)"):
        F.cross_entropy(x, fastgrad.tensor([0, 4, 1]))
    with pytest.raises(IndexError, match="cross_entropy: target -3 is out of bounds"):
        F.cross_entropy(x, fastgrad.tensor([0, -3, 1]))
    with pytest.raises(ValueError, match="reduction must be"):
        F.cross_entropy(x, fastgrad.tensor([0, 1, 1]), reduction="avg")
    with pytest.raises(ValueError, match=r"input of shape \(3, 4\) expects target of shape"):
        F.cross_entropy(x, fastgrad.tensor([0, 1]))
    with pytest.raises(TypeError, match="target must be an int64 tensor"):
        F.cross_entropy(x, fastgrad.tensor([0.0, 1.0, 2.0, 1.5]))


def test_cross_entropy_ignore_index_and_empty(backend: str, rng: np.random.Generator) -> None:
    xa = rng.standard_normal((4, 3))
    x = t64(xa)
    y = F.cross_entropy(x, fastgrad.tensor([0, -100, 2, 1]))  # the default ignore_index
    rows = np.log(np.exp(xa).sum(1)) - xa[np.arange(4), [0, 0, 2, 1]]
    np.testing.assert_allclose(y.item(), rows[[0, 2, 3]].mean(), rtol=1e-12)
    e = F.cross_entropy(fastgrad.zeros(0, 3, dtype=fastgrad.float64), fastgrad.tensor(
        np.zeros(0, np.int64)))
    assert np.isnan(e.item())


def test_cross_entropy_reduced_primitive(backend: str, rng: np.random.Generator) -> None:
    xa, ta = rng.standard_normal((4, 3)), np.array([2, 0, 1, 1])
    x, t = t64(xa), fastgrad.tensor(ta)
    bk = x._b
    rows = np.log(np.exp(xa).sum(1)) - xa[np.arange(4), ta]
    for red, want in (("mean", rows.mean()), ("sum", rows.sum()), ("none", rows)):
        got = _wrap(bk.cross_entropy_reduced(x._impl, t._impl, red), bk)
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12)
    with pytest.raises(IndexError, match="target 3 at position 1 is out of range"):
        bk.cross_entropy_reduced(x._impl, fastgrad.tensor([0, 3, 0, 0])._impl, "mean")
    with pytest.raises(ValueError, match="reduction must be"):
        bk.cross_entropy_reduced(x._impl, t._impl, "avg")


# --- optimizer, zero_grad, from_numpy ---------------------------------------------------------
def test_sgd_fast_step_matches_torch(backend: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    was = [rng.standard_normal(s) for s in ((3, 2), (3,), (2, 3))]
    ps = [t64(a) for a in was]
    tps = [torch.tensor(a, requires_grad=True) for a in was]
    kw = {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}
    opt, topt = optim.SGD(ps, **kw), torch.optim.SGD(tps, **kw)
    sched = optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)
    tsched = torch.optim.lr_scheduler.StepLR(topt, 1, gamma=0.5)
    for step in range(4):
        gs = [rng.standard_normal(a.shape) for a in was]
        use = [0, 2] if step == 2 else [0, 1, 2]  # a step where a parameter has no gradient
        opt.zero_grad()
        topt.zero_grad()
        for i in use:
            ps[i].grad = fastgrad.tensor(gs[i])
            tps[i].grad = torch.tensor(gs[i])
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-12)
    opt.param_groups[0]["momentum"] = 0.0  # hyperparameters are read every step
    topt.param_groups[0]["momentum"] = 0.0
    topt.param_groups[0]["nesterov"] = opt.param_groups[0]["nesterov"] = False
    for p, tp, g in zip(ps, tps, gs):
        p.grad, tp.grad = fastgrad.tensor(g), torch.tensor(g)
    opt.step()
    topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-12)


def test_sgd_fast_step_after_load_state_dict(backend: str) -> None:
    def run(load: bool) -> np.ndarray:
        p = fastgrad.tensor([1.0, 2.0], dtype=fastgrad.float64, requires_grad=True)
        opt = optim.SGD([p], lr=0.5, momentum=0.5)
        for _ in range(2):
            p.grad = fastgrad.tensor([1.0, -1.0], dtype=fastgrad.float64)
            opt.step()
        if load:  # a fresh buffer object from the state dict must be the one updated
            opt.load_state_dict(opt.state_dict())
        p.grad = fastgrad.tensor([1.0, -1.0], dtype=fastgrad.float64)
        opt.step()
        return np.concatenate([p.detach().numpy(), opt.state[p]["momentum_buffer"].numpy()])

    np.testing.assert_allclose(run(True), run(False), rtol=1e-15)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(backend: str, set_to_none: bool) -> None:
    m = nn.Linear(2, 2)
    opt = optim.SGD(m.parameters(), lr=0.1)
    m(fastgrad.randn(3, 2)).sum().backward()
    opt.zero_grad(set_to_none=set_to_none)
    for p in m.parameters():
        if set_to_none:
            assert p.grad is None
        else:
            assert np.all(p.grad.numpy() == 0)


def test_from_numpy_fast_path(backend: str) -> None:
    for dt in (np.float32, np.float64, np.int64, np.bool_):
        a = np.zeros((2, 3), dt)
        t = fastgrad.from_numpy(a)
        assert t.dtype.np == np.dtype(dt) and t.shape == (2, 3)
    a = np.arange(6.0).reshape(2, 3)
    t = fastgrad.from_numpy(a[:, ::2])
    a[0, 2] = 9.0  # shares memory, strided views too
    assert t.numpy()[0, 1] == 9.0
    with pytest.raises(TypeError, match="non-native byte order"):
        fastgrad.from_numpy(np.zeros(3, ">f4"))
    with pytest.raises(TypeError, match="from_numpy: unsupported dtype"):
        fastgrad.from_numpy(np.zeros(3, np.float16))
    with pytest.raises(TypeError, match="expected a numpy.ndarray"):
        fastgrad.from_numpy([1.0])


def test_demo_step_through_nn_equals_numpy(backend: str, rng: np.random.Generator) -> None:
    from fastgrad.demo import NumpyMLP

    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    init = {k: np.array(v) for k, v in model.state_dict().items()}
    ref = NumpyMLP([init["0.weight"], init["2.weight"]], [init["0.bias"], init["2.bias"]],
                   lr=0.1, momentum=0.9)
    loss_fn, opt = nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, 8)
    for _ in range(3):
        loss = loss_fn(model(fastgrad.from_numpy(x)), fastgrad.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        np.testing.assert_allclose(loss.item(), ref.step(x, y), rtol=1e-5)
    np.testing.assert_allclose(model[0].weight.detach().numpy(), ref.params[0], rtol=1e-4,
                               atol=1e-6)
