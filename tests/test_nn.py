"""fastgrad.nn on both backends: Module registration and traversal, state_dict and its errors,
Linear's initialisation, Sequential, every activation and loss against PyTorch (when installed)
and gradchecked in float64, cross_entropy's target checks, dropout and nn.init."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Callable

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn
from fastgrad.nn import functional as F

f64 = fastgrad.float64


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.Tanh())
        self.head = nn.Linear(8, 3)
        self.scale = nn.Parameter(fastgrad.ones(1))
        self.register_buffer("steps", fastgrad.zeros(1, dtype=fastgrad.int64))
        self.note = "not a parameter"

    def forward(self, x: fastgrad.Tensor) -> fastgrad.Tensor:
        return self.head(self.body(x)) * self.scale


# --- Module ----------------------------------------------------------------------------------
def test_registration_and_traversal(backend: str) -> None:
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [type(m).__name__ for m in net.children()] == ["Sequential", "Linear"]
    assert [n for n, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "head"]
    assert len(list(net.modules())) == 5
    assert [n for n, _ in net.named_buffers()] == ["steps"]
    assert set(net.state_dict()) == set(names) | {"steps"}
    assert net.note == "not a parameter" and "note" not in dict(net.named_parameters())
    with pytest.raises(AttributeError, match="nope"):
        _ = net.nope


def test_shared_parameter_listed_once(backend: str) -> None:
    a = nn.Linear(3, 3)
    seq = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.children())) == 2


def test_reassign_and_delete(backend: str) -> None:
    net = Net()
    net.head = nn.Linear(8, 5)
    assert net.head.out_features == 5
    net.scale = None
    assert "scale" not in dict(net.named_parameters())
    with pytest.raises(TypeError, match="scale"):
        net.scale = fastgrad.ones(1)  # a plain tensor cannot replace a parameter
    del net.head
    assert "head" not in dict(net.named_children())
    with pytest.raises(AttributeError, match="super\\(\\).__init__"):

        class Broken(nn.Module):
            def __init__(self) -> None:
                self.fc = nn.Linear(1, 1)

        Broken()


def test_call_forward_train_eval(backend: str) -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert net.training and net[1].training
    assert net.eval() is net
    assert not net.training and not net[1].training
    x = fastgrad.randn(2, 4)
    np.testing.assert_array_equal(net(x).detach().numpy(), net[0](x).detach().numpy())
    net.train()
    assert net[1].training
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(x)


def test_zero_grad(backend: str) -> None:
    net = Net()
    net(fastgrad.randn(2, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_parameter_is_a_leaf_tensor_that_stays_in_the_graph(backend: str) -> None:
    p = nn.Parameter(fastgrad.tensor([1.0, 2.0]))
    assert isinstance(p, fastgrad.Tensor) and p.requires_grad and p.is_leaf
    assert "Parameter containing" in repr(p)
    assert not nn.Parameter(fastgrad.ones(2), requires_grad=False).requires_grad
    x = fastgrad.tensor([3.0, 4.0])
    # a Tensor on the left and a Parameter on the right: every operator keeps p in the graph
    y = (x * p) + (x - p) + (x / p) + (x ** p) + (x + p) + (1.0 - p)
    y.sum().backward()
    expect = 3 * 0 + np.array([3.0, 4.0]) - 1 - np.array([3.0, 4.0]) / np.array([1.0, 4.0]) \
        + np.log([3.0, 4.0]) * np.array([3.0, 16.0]) + 1 - 1
    np.testing.assert_allclose(p.grad.numpy(), expect, rtol=1e-5)
    w = nn.Parameter(fastgrad.ones(2, 2))
    (fastgrad.ones(2) @ w).sum().backward()
    assert w.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    q = nn.Parameter(fastgrad.tensor([3.0]))
    (q * q + q / q + q - q + q ** q).sum().backward()  # Parameter with Parameter
    assert q.grad.item() == pytest.approx(6 + 0 + 0 + 27 * (np.log(3.0) + 1), rel=1e-6)
    assert (q > 1).tolist() == [True] and (q == q.detach()).tolist() == [True]


def test_parameter_shares_memory(backend: str) -> None:
    t = fastgrad.zeros(3)
    p = nn.Parameter(t)
    t.fill_(2.0)
    assert p.tolist() == [2.0, 2.0, 2.0]


# --- state_dict --------------------------------------------------------------------------------
def test_state_dict_round_trip(backend: str) -> None:
    a, b = Net(), Net()
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict)
    assert not any(v.requires_grad for v in sd.values())
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
    x = fastgrad.randn(2, 4)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())


def test_state_dict_shares_memory(backend: str) -> None:
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    with fastgrad.no_grad():
        lin.weight.fill_(3.0)
    assert sd["weight"].tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_load_state_dict_errors(backend: str) -> None:
    net = Net()
    sd = net.state_dict()
    missing = OrderedDict((k, v) for k, v in sd.items() if k != "head.bias")
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: 'head.bias'"):
        net.load_state_dict(missing)
    extra = OrderedDict(sd, **{"head.extra": fastgrad.zeros(1)})
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\) in state_dict: 'head.extra'"):
        net.load_state_dict(extra)
    res = net.load_state_dict(extra, strict=False)
    assert res.unexpected_keys == ["head.extra"] and res.missing_keys == []
    res = net.load_state_dict(missing, strict=False)
    assert res.missing_keys == ["head.bias"]
    bad = OrderedDict(sd)
    bad["head.weight"] = fastgrad.zeros(4, 8)
    with pytest.raises(ValueError, match=r"size mismatch for head.weight.*\(4, 8\).*\(3, 8\)"):
        net.load_state_dict(bad)
    with pytest.raises(RuntimeError, match="size mismatch"):
        net.load_state_dict(bad, strict=False)
    with pytest.raises(TypeError):
        net.load_state_dict([1, 2])


def test_load_state_dict_from_arrays_and_other_backend(backend: str) -> None:
    net = nn.Linear(3, 2)
    arrays = {"weight": np.arange(6, dtype=np.float64).reshape(2, 3), "bias": np.ones(2)}
    net.load_state_dict(arrays)
    assert net.weight.dtype == fastgrad.float32
    assert net.weight.tolist() == [[0, 1, 2], [3, 4, 5]]
    other = "python" if backend == "cpp" else "cpp"
    if other not in fastgrad._backend.available():
        return
    fastgrad.set_backend(other)
    try:
        src = nn.Linear(3, 2)
    finally:
        fastgrad.set_backend(backend)
    net.load_state_dict(src.state_dict())
    np.testing.assert_array_equal(net.weight.detach().numpy(), src.weight.detach().numpy())


# --- layers ----------------------------------------------------------------------------------
def test_linear_shapes_and_default_init(backend: str) -> None:
    fastgrad.manual_seed(1)
    lin = nn.Linear(400, 300)
    assert lin.weight.shape == (300, 400) and lin.bias.shape == (300,)
    bound = 1 / math.sqrt(400)
    w = lin.weight.detach().numpy()
    b = lin.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-bound, bound): std = bound / sqrt(3)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert abs(w.mean()) < 0.01 * bound
    assert lin(fastgrad.randn(5, 400)).shape == (5, 300)
    assert lin(fastgrad.randn(2, 7, 400)).shape == (2, 7, 300)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert len(list(nn.Linear(3, 2, bias=False).parameters())) == 1
    assert nn.Linear(3, 2, dtype=f64).weight.dtype == f64
    with pytest.raises(ValueError, match=r"linear.*\(5, 3\).*\(2, 4\)"):
        nn.Linear(4, 2)(fastgrad.randn(5, 3))
    assert "in_features=4, out_features=2" in repr(nn.Linear(4, 2))


def test_linear_init_is_seeded(backend: str) -> None:
    fastgrad.manual_seed(7)
    a = nn.Linear(3, 4).weight.detach().numpy().copy()
    fastgrad.manual_seed(7)
    b = nn.Linear(3, 4).weight.detach().numpy()
    np.testing.assert_array_equal(a, b)


def test_sequential_container(backend: str) -> None:
    seq = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    assert len(seq) == 3
    assert isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    assert head(fastgrad.randn(3, 8)).shape == (3, 2)
    with pytest.raises(IndexError):
        seq[3]
    seq.append(nn.Softmax(dim=1))
    out = seq(fastgrad.randn(5, 4))
    np.testing.assert_allclose(out.detach().numpy().sum(1), 1.0, rtol=1e-6)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    assert "(0): Linear" in repr(seq)
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.ReLU(), 3)


def test_module_list(backend: str) -> None:
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6


def test_l2_regularisation_term(backend: str) -> None:
    lin = nn.Linear(3, 2)
    x, y = fastgrad.randn(4, 3), fastgrad.tensor([0, 1, 1, 0])
    lam = 0.1
    F.cross_entropy(lin(x), y).backward()
    g_data = lin.weight.grad.numpy().copy()
    lin.zero_grad()
    (F.cross_entropy(lin(x), y) + lam * (lin.weight * lin.weight).sum()).backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(),
                               g_data + 2 * lam * lin.weight.detach().numpy(), rtol=1e-5,
                               atol=1e-7)


# --- functional against PyTorch, and gradcheck -------------------------------------------------
def _x(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


TARGETS = np.array([2, 0, 4, 1])


def _cases(torch: Any) -> list[tuple[str, Callable, Callable]]:
    tF = torch.nn.functional
    tt = torch.tensor(TARGETS)
    ft = fastgrad.tensor(TARGETS)
    w = np.array([0.5, 1.0, 2.0, 1.5, 0.25])
    return [
        ("relu", F.relu, tF.relu),
        ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: tF.leaky_relu(x, 0.2)),
        ("elu", lambda x: F.elu(x, 1.5), lambda x: tF.elu(x, 1.5)),
        ("sigmoid", F.sigmoid, torch.sigmoid),
        ("tanh", F.tanh, torch.tanh),
        ("softmax", lambda x: F.softmax(x, 1), lambda x: tF.softmax(x, 1)),
        ("log_softmax0", lambda x: F.log_softmax(x, 0), lambda x: tF.log_softmax(x, 0)),
        ("cross_entropy", lambda x: F.cross_entropy(x, ft), lambda x: tF.cross_entropy(x, tt)),
        ("cross_entropy_sum", lambda x: F.cross_entropy(x, ft, reduction="sum"),
         lambda x: tF.cross_entropy(x, tt, reduction="sum")),
        ("cross_entropy_none", lambda x: F.cross_entropy(x, ft, reduction="none"),
         lambda x: tF.cross_entropy(x, tt, reduction="none")),
        ("cross_entropy_weight_ignore",
         lambda x: F.cross_entropy(x, ft, weight=fastgrad.tensor(w, dtype=x.dtype),
                                   ignore_index=0),
         lambda x: tF.cross_entropy(x, tt, weight=torch.tensor(w, dtype=x.dtype),
                                    ignore_index=0)),
        # ignore_index with no weight: an in-range index present in the targets, and the default
        # -100 present (both leave the fused kernel for the general path), and absent (fused).
        ("cross_entropy_ignore", lambda x: F.cross_entropy(x, ft, ignore_index=4),
         lambda x: tF.cross_entropy(x, tt, ignore_index=4)),
        ("cross_entropy_ignore_default",
         lambda x: F.cross_entropy(x, fastgrad.tensor([2, -100, 4, 1])),
         lambda x: tF.cross_entropy(x, torch.tensor([2, -100, 4, 1]))),
        ("cross_entropy_ignore_absent", lambda x: F.cross_entropy(x, ft, ignore_index=3),
         lambda x: tF.cross_entropy(x, tt, ignore_index=3)),
        ("cross_entropy_smoothing", lambda x: F.cross_entropy(x, ft, label_smoothing=0.2),
         lambda x: tF.cross_entropy(x, tt, label_smoothing=0.2)),
        ("nll_loss", lambda x: F.nll_loss(F.log_softmax(x, 1), ft),
         lambda x: tF.nll_loss(tF.log_softmax(x, 1), tt)),
        ("multi_margin", lambda x: F.multi_margin_loss(x, ft),
         lambda x: tF.multi_margin_loss(x, tt)),
        ("multi_margin_p2_sum", lambda x: F.multi_margin_loss(x, ft, p=2, margin=0.5,
                                                              reduction="sum"),
         lambda x: tF.multi_margin_loss(x, tt, p=2, margin=0.5, reduction="sum")),
        ("multi_margin_none", lambda x: F.multi_margin_loss(x, ft, reduction="none"),
         lambda x: tF.multi_margin_loss(x, tt, reduction="none")),
        ("mse", lambda x: F.mse_loss(x, x.detach() * 0.5 + 1.0),
         lambda x: tF.mse_loss(x, x.detach() * 0.5 + 1.0)),
        ("mse_none", lambda x: F.mse_loss(x, x.detach() * 0.5 + 1.0, reduction="none"),
         lambda x: tF.mse_loss(x, x.detach() * 0.5 + 1.0, reduction="none")),
        ("l1", lambda x: F.l1_loss(x, x.detach() * 0.5 + 1.0),
         lambda x: tF.l1_loss(x, x.detach() * 0.5 + 1.0)),
    ]


CASE_NAMES = [
    "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "log_softmax0", "cross_entropy",
    "cross_entropy_sum", "cross_entropy_none", "cross_entropy_weight_ignore", "cross_entropy_ignore",
    "cross_entropy_ignore_default", "cross_entropy_ignore_absent",
    "cross_entropy_smoothing", "nll_loss", "multi_margin", "multi_margin_p2_sum",
    "multi_margin_none", "mse", "mse_none", "l1",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_functional_against_torch(backend: str, name: str, rng: np.random.Generator) -> None:
    torch = torch_or_skip()
    cases = {c[0]: c for c in _cases(torch)}
    assert set(cases) == set(CASE_NAMES)
    _, ours, theirs = cases[name]
    a = _x(rng, 4, 5)
    x = fastgrad.tensor(a, dtype=f64, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    u = rng.standard_normal(ty.shape)
    (y * fastgrad.tensor(u, dtype=f64)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def _gradcheck_fns() -> list[tuple[str, Callable[[], tuple[Callable, tuple]]]]:
    def module(m: nn.Module, *shape: int) -> Callable[[], tuple[Callable, tuple]]:
        def make() -> tuple[Callable, tuple]:
            x = fastgrad.randn(*shape, dtype=f64, requires_grad=True)
            return (lambda x, *ps: m(x)), (x, *m.parameters())

        return make

    def loss(lf: nn.Module, target: Any) -> Callable[[], tuple[Callable, tuple]]:
        def make() -> tuple[Callable, tuple]:
            x = fastgrad.randn(4, 5, dtype=f64, requires_grad=True)
            t = target() if callable(target) else target
            return (lambda x: lf(x, t)), (x,)

        return make

    tgt = fastgrad.tensor(TARGETS)
    return [
        ("Linear", lambda: module(nn.Linear(3, 4, dtype=f64), 2, 3)()),
        ("Linear_nobias", lambda: module(nn.Linear(3, 4, bias=False, dtype=f64), 5, 3)()),
        ("ReLU", lambda: module(nn.ReLU(), 3, 4)()),
        ("LeakyReLU", lambda: module(nn.LeakyReLU(0.1), 3, 4)()),
        ("ELU", lambda: module(nn.ELU(), 3, 4)()),
        ("Sigmoid", lambda: module(nn.Sigmoid(), 3, 4)()),
        ("Tanh", lambda: module(nn.Tanh(), 3, 4)()),
        ("Softmax", lambda: module(nn.Softmax(dim=1), 3, 4)()),
        ("LogSoftmax", lambda: module(nn.LogSoftmax(dim=0), 3, 4)()),
        ("Dropout_eval", lambda: module(nn.Dropout(0.3).eval(), 3, 4)()),
        ("Flatten", lambda: module(nn.Flatten(), 2, 3, 2)()),
        ("MLP", lambda: module(nn.Sequential(nn.Linear(3, 5, dtype=f64), nn.Tanh(),
                                             nn.Linear(5, 2, dtype=f64)), 4, 3)()),
        ("CrossEntropyLoss", lambda: loss(nn.CrossEntropyLoss(), tgt)()),
        ("CrossEntropyLoss_sum", lambda: loss(nn.CrossEntropyLoss(reduction="sum"), tgt)()),
        ("NLLLoss", lambda: loss(nn.NLLLoss(), tgt)()),
        ("MultiMarginLoss", lambda: loss(nn.MultiMarginLoss(), tgt)()),
        ("MultiMarginLoss_p2", lambda: loss(nn.MultiMarginLoss(p=2), tgt)()),
        ("MSELoss", lambda: loss(nn.MSELoss(), lambda: fastgrad.randn(4, 5, dtype=f64))()),
        ("L1Loss", lambda: loss(nn.L1Loss(), lambda: fastgrad.randn(4, 5, dtype=f64))()),
    ]


@pytest.mark.parametrize("name", [n for n, _ in _gradcheck_fns()])
def test_gradcheck_modules_and_losses(backend: str, name: str) -> None:
    make = dict(_gradcheck_fns())[name]
    fn, inputs = make()
    assert fastgrad.gradcheck(fn, inputs)


def test_dropout_gradcheck_with_fixed_mask(backend: str) -> None:
    x = fastgrad.randn(3, 4, dtype=f64, requires_grad=True)

    def fn(x: fastgrad.Tensor) -> fastgrad.Tensor:
        fastgrad.manual_seed(3)  # the same mask on every call
        return F.dropout(x, 0.4)

    assert fastgrad.gradcheck(fn, (x,))


# --- cross_entropy checks ----------------------------------------------------------------------
def test_cross_entropy_target_errors(backend: str) -> None:
    logits = fastgrad.randn(3, 5)
    with pytest.raises(IndexError, match=r"cross_entropy: target 5 is out of bounds for 5"):
        F.cross_entropy(logits, fastgrad.tensor([0, 5, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy: target -1"):
        F.cross_entropy(logits, fastgrad.tensor([0, -1, 1]))
    with pytest.raises(TypeError, match=r"cross_entropy: target must be an int64.*float32"):
        F.cross_entropy(logits, fastgrad.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match=r"cross_entropy: target must be an int64.*bool"):
        F.cross_entropy(logits, fastgrad.tensor([True, False, True]))
    with pytest.raises(ValueError, match=r"cross_entropy: input of shape \(3, 5\).*\(3,\).*\(4,\)"):
        F.cross_entropy(logits, fastgrad.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(logits, fastgrad.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(TypeError, match="floating point"):
        F.cross_entropy(fastgrad.tensor([[1, 2]]), fastgrad.tensor([0]))
    with pytest.raises(IndexError, match="multi_margin_loss"):
        F.multi_margin_loss(logits, fastgrad.tensor([0, 9, 1]))


def test_cross_entropy_other_target_forms(backend: str) -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 4, 3))  # (N, C, d1)
    t = np.array([[0, 3, 1], [2, 2, 0]])
    ours = F.cross_entropy(fastgrad.tensor(a, dtype=f64), fastgrad.tensor(t))
    theirs = torch.nn.functional.cross_entropy(torch.tensor(a), torch.tensor(t))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    v = rng.standard_normal(4)
    ours = F.cross_entropy(fastgrad.tensor(v, dtype=f64), fastgrad.tensor(2))
    theirs = torch.nn.functional.cross_entropy(torch.tensor(v), torch.tensor(2))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    p = rng.dirichlet(np.ones(4), size=3)
    x = rng.standard_normal((3, 4))
    ours = F.cross_entropy(fastgrad.tensor(x, dtype=f64), fastgrad.tensor(p, dtype=f64))
    theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(p))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    ours = F.cross_entropy(fastgrad.tensor(x, dtype=f64), [0, 3, 1])  # a list of class indices
    theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor([0, 3, 1]))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)


def test_multi_margin_loss_is_the_lecture_hinge(backend: str) -> None:
    # CS231n's example: scores for 3 classes, the correct class 0: max(0, 5.1-3.2+1) + max(0,
    # -1.7-3.2+1) = 2.9, divided by C = 3 (PyTorch's normalisation).
    s = fastgrad.tensor([[3.2, 5.1, -1.7]])
    assert F.multi_margin_loss(s, fastgrad.tensor([0])).item() == pytest.approx(2.9 / 3, rel=1e-6)


# --- dropout and init --------------------------------------------------------------------------
def test_dropout(backend: str) -> None:
    x = fastgrad.ones(200, 100)
    fastgrad.manual_seed(0)
    y = F.dropout(x, 0.3).numpy()
    zero = (y == 0).mean()
    assert abs(zero - 0.3) < 0.02
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    fastgrad.manual_seed(0)
    np.testing.assert_array_equal(F.dropout(x, 0.3).numpy(), y)
    assert F.dropout(x, 0.3, training=False) is x
    assert not F.dropout(x, 1.0).numpy().any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_init_functions(backend: str) -> None:
    w = fastgrad.empty(300, 200)
    nn.init.xavier_uniform_(w)
    a = math.sqrt(6 / 500)
    assert np.abs(w.numpy()).max() <= a and w.numpy().std() > 0.9 * a / math.sqrt(3)
    nn.init.kaiming_uniform_(w, nonlinearity="relu")
    b = math.sqrt(2) * math.sqrt(3 / 200)
    assert np.abs(w.numpy()).max() <= b and w.numpy().std() > 0.9 * b / math.sqrt(3)
    nn.init.normal_(w, 1.0, 0.5)
    assert abs(w.numpy().mean() - 1.0) < 0.01 and abs(w.numpy().std() - 0.5) < 0.01
    nn.init.uniform_(w, -2, -1)
    assert w.numpy().max() <= -1 and w.numpy().min() >= -2
    nn.init.zeros_(w)
    assert not w.numpy().any()
    p = nn.Parameter(fastgrad.ones(3, 3))
    nn.init.zeros_(p)  # a parameter that requires grad: initialised under no_grad
    assert p.requires_grad and not p.detach().numpy().any()
    with pytest.raises(ValueError, match="fan in and fan out"):
        nn.init.xavier_uniform_(fastgrad.ones(3))
    assert nn.init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
