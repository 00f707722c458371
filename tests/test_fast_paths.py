"""The C++ backend's fast paths: Tensor.__add__/__sub__/__mul__ as C methods (Note [Binary fast
path]) and the plain CPython tensor handle (Note [Tensor handle]). Each case is checked against
the Python path (tensor._binary) or against NumPy, and errors against the messages users see."""

from __future__ import annotations

import importlib
import operator

import fastgrad
import numpy as np
import pytest
from fastgrad import _backend
from fastgrad.nn import Parameter

pytestmark = pytest.mark.skipif("cpp" not in _backend.available(),
                                reason="the C++ backend did not import")
tensor_mod = importlib.import_module("fastgrad.tensor")
OPS = [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul)]


@pytest.fixture(autouse=True)
def cpp() -> None:  # type: ignore[misc]
    prev = fastgrad.get_backend()
    fastgrad.set_backend("cpp")
    yield
    fastgrad.set_backend(prev)


def test_dunders_are_c_methods() -> None:
    for name, _ in OPS:
        assert type(getattr(fastgrad.Tensor, f"__{name}__")).__name__ == "method_descriptor"


@pytest.mark.parametrize("name,op", OPS)
@pytest.mark.parametrize("other", ["same", "f64", "int", "bool", "scalar", "array", "param",
                                   "broadcast", "zero-d"])
def test_fast_path_matches_python_path(name: str, op, other: str) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((3, 4)).astype(np.float32)
    a = fastgrad.tensor(a_np, requires_grad=True)
    o = {
        "same": fastgrad.tensor(rng.standard_normal((3, 4)).astype(np.float32)),
        "f64": fastgrad.tensor(rng.standard_normal((3, 4))),
        "int": fastgrad.tensor(np.arange(12).reshape(3, 4)),
        "bool": fastgrad.tensor(np.arange(12).reshape(3, 4) % 2 == 0),
        "scalar": 2.5,
        "array": rng.standard_normal((3, 4)).astype(np.float32),
        "param": Parameter(fastgrad.tensor(rng.standard_normal((3, 4)).astype(np.float32))),
        "broadcast": fastgrad.tensor(rng.standard_normal(4).astype(np.float32)),
        "zero-d": fastgrad.tensor(3.0),
    }[other]
    got = op(a, o)
    want = tensor_mod._binary(name, a, o)
    assert type(got) is fastgrad.Tensor and got.dtype == want.dtype
    assert np.array_equal(got.detach().numpy(), want.detach().numpy())
    o_np = np.asarray(o.detach().numpy() if isinstance(o, fastgrad.Tensor) else o)
    np.testing.assert_allclose(got.detach().numpy(), op(a_np, o_np), rtol=1e-6)
    got.sum().backward()
    want_grad = np.broadcast_to(o_np, (3, 4)) if name == "mul" else np.ones((3, 4))
    np.testing.assert_allclose(a.grad.numpy(), want_grad, rtol=1e-6)


@pytest.mark.parametrize("name,op", OPS)
def test_fast_path_errors_name_the_op_and_shapes(name: str, op) -> None:  # type: ignore[no-untyped-def]
    a, b = fastgrad.ones(2, 3), fastgrad.ones(4, 5)
    with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4, 5\) cannot be"):
        op(a, b)
    with pytest.raises(TypeError):
        op(a, object())


def test_fast_path_on_the_python_backend_is_the_python_path() -> None:
    fastgrad.set_backend("python")
    a = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    y = a * a + a - fastgrad.tensor([1.0, 1.0])
    y.sum().backward()
    assert y.tolist() == [1.0, 5.0] and a.grad.tolist() == [3.0, 5.0]
    fastgrad.set_backend("cpp")
    with pytest.raises(RuntimeError, match="tensors from different backends"):
        a * fastgrad.ones(2)  # a python-backend tensor with a C++ one: refused by _binary


def test_handle_identity_is_its_key() -> None:
    x = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    leaf = y.grad_fn.next_functions[0][0].next_functions[0][0].variable
    assert leaf is not x._impl  # a new handle object for the same C++ tensor ...
    assert leaf.key == x._impl.key  # ... with the same key
    assert x.detach()._impl.key != x._impl.key


def test_handle_type_checks() -> None:
    core = _backend._BACKENDS["cpp"]
    with pytest.raises(TypeError):
        core.TensorImpl()
    x = fastgrad.ones(2, 3, requires_grad=True)
    h = x._impl
    assert h.shape == (2, 3) and h.ndim == 2 and h.numel == 6 and h.dtype == 0
    assert h.is_leaf and h.is_contiguous and h.requires_grad and h.grad is None
    with pytest.raises(ValueError, match=r"grad: assigned grad of shape \(3,\) to a tensor of "
                                         r"shape \(2, 3\)"):
        h.grad = fastgrad.ones(3)._impl
    with pytest.raises(TypeError, match="grad: assigned grad of dtype float64"):
        h.grad = fastgrad.ones(2, 3, dtype=fastgrad.float64)._impl
    with pytest.raises(TypeError, match="expected a tensor handle or None"):
        h.grad = 3
    with pytest.raises(AttributeError):
        del h.requires_grad
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        (x * 2)._impl.requires_grad = False
    with pytest.raises(TypeError, match="only tensors of floating point dtype"):
        fastgrad.tensor([1, 2])._impl.requires_grad = True
    with pytest.raises(TypeError, match="expected a callable"):
        h.register_hook(3)
    with pytest.raises(ValueError, match="item: a tensor with 6 elements"):
        h.item()
    assert fastgrad.tensor(2.5)._impl.item() == 2.5


def test_handles_are_freed() -> None:
    core = _backend._BACKENDS["cpp"]
    w = fastgrad.ones(4, 4)
    before = core.live_counts()
    for _ in range(100):
        x = fastgrad.ones(4, 4, requires_grad=True)
        y = (x * w + w - x) * x
        y.sum().backward()
        _ = x.grad._impl, y.grad_fn
    del x, y, _
    assert core.live_counts() == before


@pytest.mark.parametrize("backend_name", ["cpp", "python"])
def test_tensors_of_many_dims(backend_name: str) -> None:
    """Shapes of more dims than a Shape keeps inline (4) (Note [Inline shapes]) take the heap path."""
    fastgrad.set_backend(backend_name)
    rng = np.random.default_rng(3)
    a_np = rng.standard_normal((2, 1, 3, 1, 2, 2, 1, 3, 2))
    b_np = rng.standard_normal((1, 2, 3, 2, 1, 2, 2, 1, 1))
    a = fastgrad.tensor(a_np, requires_grad=True)
    b = fastgrad.tensor(b_np, requires_grad=True)
    y = (a * b + a).permute(8, 7, 6, 5, 4, 3, 2, 1, 0).reshape(6, -1)
    full = (2, 2, 3, 2, 2, 2, 2, 3, 2)
    assert y.shape == (6, 192)
    want = np.transpose(a_np * b_np + a_np, (8, 7, 6, 5, 4, 3, 2, 1, 0)).reshape(6, -1)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.broadcast_to(b_np + 1, full).sum(
        axis=(1, 3, 6), keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), np.broadcast_to(a_np, full).sum(
        axis=(0, 4, 7, 8), keepdims=True), rtol=1e-12)


def test_cpp_tensors_are_untracked_by_gc() -> None:
    """Note [Untracked tensors]: C++ Tensors stay out of the cyclic collector; Parameters and
    Python-backend Tensors (which can be part of a cycle) stay in it; weak references still
    work and die with the Tensor."""
    import gc
    import weakref

    x = fastgrad.tensor([1.0, -2.0], requires_grad=True)
    y = x * x  # C fast path
    z = y.tanh()  # tensor._wrap
    assert tensor_mod._wrap is not None and type(tensor_mod._wrap).__name__ == "builtin_function_or_method"
    assert not any(gc.is_tracked(t) for t in (x, y, z))
    p = Parameter(fastgrad.ones(2))
    assert gc.is_tracked(p)
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1.0, -2.0])
                               * (1 - np.tanh([1.0, 4.0]) ** 2), rtol=1e-4)
    assert not gc.is_tracked(x.grad)
    r = weakref.ref(z)
    del z
    assert r() is None
    fastgrad.set_backend("python")
    a = fastgrad.tensor([1.0])
    assert gc.is_tracked(a) and gc.is_tracked(a * a)


def test_wrap_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="_wrap"):
        tensor_mod._wrap(fastgrad.ones(1)._impl)


# --- Note [pow fast paths] ----------------------------------------------------------------------
POW_X = [-0.0, 0.0, -np.inf, np.inf, np.nan, -1.0, -2.5, 4.0, 0.3, 1e-30, 7e30, 1e-40]


@pytest.mark.parametrize("e", [2, 3, 1, -1, -2, 0.5, -0.5, 2.7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pow_scalar_exponents_match_numpy(e: float, dtype: type) -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([np.array(POW_X), rng.uniform(-3, 3, 1003)]).astype(dtype)
    with np.errstate(all="ignore"):
        want = np.power(x, dtype(e))
    for t in (fastgrad.tensor(x), fastgrad.tensor(np.stack([x, x], 1))[:, 0]):  # and strided
        got = (t ** e).numpy()
        assert got.dtype == dtype
        if e in (2, 1, 0.5):  # correctly rounded, as pow: the same bits, signed zeros too
            np.testing.assert_array_equal(got.view(f"u{x.itemsize}"), want.view(f"u{x.itemsize}"))
        else:
            np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps, atol=0)
            assert np.array_equal(np.signbit(got), np.signbit(want))


def test_pow_scalar_exponent_gradients() -> None:
    x = fastgrad.tensor([0.5, -1.5, 2.0, 3.0], dtype=fastgrad.float64, requires_grad=True)
    ((x - 1.0) ** 2).sum().backward()  # the squared error: d/dx = 2 (x - 1)
    assert x.grad.tolist() == [-1.0, -5.0, 2.0, 4.0]
    x.grad = None
    (x.abs() ** 0.5).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.sign(x.detach().numpy()) * 0.5
                               / np.sqrt(np.abs(x.detach().numpy())), rtol=1e-15)
    assert fastgrad.gradcheck(lambda t: (t ** 3).sum() + (t ** -2).sum(),
                              (fastgrad.tensor([0.7, -1.3, 2.1], dtype=fastgrad.float64,
                                               requires_grad=True),))
