"""fastgrad.optim on both backends: the same training loop in PyTorch and in fastgrad, from the
same weights, gives the same loss curve and weights (SGD variants, Adam, AdamW); param groups;
state_dict round trips; the fused kernels' checks, version bumps and thread-count independence."""

from __future__ import annotations

from typing import Any, Callable

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import _backend, nn, optim

SGD_CONFIGS = [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    {"lr": 0.1, "momentum": 0.5, "dampening": 0.3, "weight_decay": 0.001},
    {"lr": 0.1, "momentum": 0.9, "maximize": True},
]
ADAM_CONFIGS = [
    {"lr": 0.01},
    {"lr": 0.01, "weight_decay": 0.05},
    {"lr": 0.02, "betas": (0.3, 0.9), "eps": 1e-6, "amsgrad": True},
]


def _models(torch: Any, dtype: Any = fastgrad.float32) -> tuple[nn.Module, Any]:
    fastgrad.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 16, dtype=dtype), nn.Tanh(), nn.Linear(16, 4, dtype=dtype))
    tm = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    if dtype is fastgrad.float64:
        tm = tm.double()
    with torch.no_grad():
        for p, tp in zip(m.parameters(), tm.parameters()):
            tp.copy_(torch.from_numpy(np.array(p.detach())))
    return m, tm


def _train_both(torch: Any, make: Callable, make_torch: Callable, steps: int = 25,
                dtype: Any = fastgrad.float32) -> tuple[list, list, nn.Module, Any]:
    m, tm = _models(torch, dtype)
    opt, topt = make(m), make_torch(tm)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6)).astype(dtype.np)
    y = rng.integers(0, 4, 32)
    ours, theirs = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(m(fastgrad.tensor(x)), fastgrad.tensor(y))
        loss.backward()
        opt.step()
        ours.append(loss.item())
        topt.zero_grad()
        tloss = torch.nn.CrossEntropyLoss()(tm(torch.from_numpy(x)), torch.from_numpy(y))
        tloss.backward()
        topt.step()
        theirs.append(tloss.item())
    return ours, theirs, m, tm


def _assert_same(ours: list, theirs: list, m: nn.Module, tm: Any, rtol: float = 2e-5,
                 atol: float = 5e-5) -> None:
    """Float32 tolerance: the gradients differ from PyTorch's in the last bits (summation
    order), and Adam's m / sqrt(v) amplifies that for gradients near zero."""
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-6)
    for p, tp in zip(m.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=rtol, atol=atol)
    assert ours[-1] != ours[0]  # it trained


@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_sgd_matches_torch(backend: str, cfg: dict) -> None:
    torch = torch_or_skip()
    r = _train_both(torch, lambda m: optim.SGD(m.parameters(), **cfg),
                    lambda tm: torch.optim.SGD(tm.parameters(), **cfg))
    _assert_same(*r)


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
@pytest.mark.parametrize("cfg", ADAM_CONFIGS, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_adam_matches_torch(backend: str, cls: str, cfg: dict) -> None:
    torch = torch_or_skip()
    r = _train_both(torch, lambda m: getattr(optim, cls)(m.parameters(), **cfg),
                    lambda tm: getattr(torch.optim, cls)(tm.parameters(), **cfg))
    _assert_same(*r)


def test_adam_float64_matches_torch(backend: str) -> None:
    torch = torch_or_skip()
    r = _train_both(torch, lambda m: optim.Adam(m.parameters(), lr=0.01, weight_decay=0.01),
                    lambda tm: torch.optim.Adam(tm.parameters(), lr=0.01, weight_decay=0.01),
                    dtype=fastgrad.float64)
    _assert_same(*r, rtol=1e-10, atol=1e-12)


def test_defaults_are_torchs() -> None:
    torch = torch_or_skip()
    p = [nn.Parameter(fastgrad.ones(2))]
    tp = [torch.nn.Parameter(torch.ones(2))]
    for name in ("SGD", "Adam", "AdamW"):
        ours = getattr(optim, name)(p).defaults
        theirs = getattr(torch.optim, name)(tp).defaults
        for k, v in ours.items():
            assert theirs[k] == v, (name, k)


def test_param_groups_with_their_own_lr(backend: str) -> None:
    torch = torch_or_skip()

    def groups(m: Any) -> list:
        return [{"params": m[0].parameters()}, {"params": m[2].parameters(), "lr": 0.01}]

    r = _train_both(torch, lambda m: optim.SGD(groups(m), lr=0.2, momentum=0.9),
                    lambda tm: torch.optim.SGD(groups(tm), lr=0.2, momentum=0.9))
    _assert_same(*r)
    frozen = nn.Linear(2, 2)
    other = nn.Linear(2, 2)
    before = frozen.weight.detach().numpy().copy()
    opt = optim.Adam([{"params": frozen.parameters(), "lr": 0.0}, {"params": other.parameters()}],
                     lr=0.1)
    (frozen(fastgrad.ones(1, 2)).sum() + other(fastgrad.ones(1, 2)).sum()).backward()
    opt.step()
    np.testing.assert_array_equal(frozen.weight.detach().numpy(), before)
    assert opt.param_groups[0]["lr"] == 0.0 and opt.param_groups[1]["lr"] == 0.1
    opt.param_groups[1]["lr"] = 0.5  # schedulers change the lr in place
    assert opt.param_groups[1]["lr"] == 0.5


def test_state_dict_round_trip_continues_identically(backend: str) -> None:
    rng = np.random.default_rng(1)
    x = fastgrad.tensor(rng.standard_normal((16, 5)).astype(np.float32))
    y = fastgrad.tensor(rng.integers(0, 3, 16))

    def step(m: nn.Module, o: optim.Optimizer) -> None:
        o.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        o.step()

    for make in (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                 lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
                 lambda ps: optim.AdamW(ps, lr=0.01)):
        a = nn.Linear(5, 3)
        oa = make(a.parameters())
        for _ in range(3):
            step(a, oa)
        b = nn.Linear(5, 3)
        b.load_state_dict(a.state_dict())
        ob = make(b.parameters())
        ob.load_state_dict(oa.state_dict())
        sd = ob.state_dict()
        assert list(sd["state"]) == [0, 1] and sd["param_groups"][0]["params"] == [0, 1]
        for _ in range(3):
            step(a, oa)
            step(b, ob)
        np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
        np.testing.assert_array_equal(a.bias.detach().numpy(), b.bias.detach().numpy())
        # the loaded state is a copy, not shared with the source optimizer
        assert all(
            sa[k] is not sb[k]
            for sa, sb in zip(oa.state.values(), ob.state.values()) for k in sa
            if isinstance(sa[k], fastgrad.Tensor)
        )


def test_load_state_dict_mismatch(backend: str) -> None:
    a = optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    b = optim.SGD([nn.Parameter(fastgrad.ones(1))], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        b.load_state_dict(a.state_dict())


def test_zero_grad_and_skipped_params(backend: str) -> None:
    used, unused = nn.Parameter(fastgrad.ones(3)), nn.Parameter(fastgrad.ones(3))
    opt = optim.SGD([used, unused], lr=0.5, momentum=0.9)
    (used * 2).sum().backward()
    opt.step()
    assert used.tolist() == [0.0, 0.0, 0.0] and unused.tolist() == [1.0, 1.0, 1.0]
    assert unused not in opt.state and "momentum_buffer" in opt.state[used]
    opt.zero_grad(set_to_none=False)
    assert used.grad.tolist() == [0.0, 0.0, 0.0]
    opt.zero_grad()
    assert used.grad is None


def test_closure_and_version_bump(backend: str) -> None:
    p = nn.Parameter(fastgrad.tensor([1.0, -1.0]))
    opt = optim.Adam([p], lr=0.1)

    def closure() -> fastgrad.Tensor:
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    v = p._version
    assert opt.step(closure).item() == 2.0
    assert p._version > v
    assert p.detach().numpy()[0] < 1.0


def test_broadcast_gradient_is_accepted(backend: str) -> None:
    # the gradient of p.sum() may be a broadcast (non-contiguous) view
    p = nn.Parameter(fastgrad.ones(4, 3))
    opt = optim.SGD([p], lr=0.5, momentum=0.9)
    p.sum().backward()
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), 0.5)


def test_mixed_dtypes_in_one_group(backend: str) -> None:
    a = nn.Parameter(fastgrad.ones(3))
    b = nn.Parameter(fastgrad.ones(3, dtype=fastgrad.float64))
    opt = optim.Adam([a, b], lr=0.1)
    ((a * 2).sum() + (b * 2).sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), 0.9, rtol=1e-6)
    np.testing.assert_allclose(b.detach().numpy(), 0.9, rtol=1e-8)
    assert b.dtype == fastgrad.float64


def test_argument_errors(backend: str) -> None:
    p = [nn.Parameter(fastgrad.ones(2))]
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta"):
        optim.Adam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="Tensor"):
        optim.SGD(fastgrad.ones(2), lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": p}, {"params": p}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p[0] * 2], lr=0.1)


def test_non_contiguous_parameter_is_refused(backend: str) -> None:
    p = fastgrad.randn(3, 4).T.requires_grad_()
    assert not p.is_contiguous()
    opt = optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    with pytest.raises(ValueError, match="sgd_step_: param 0 of shape \\(4, 3\\) must be contiguous"):
        opt.step()


def test_kernel_checks(backend: str) -> None:
    b = _backend._BACKENDS[backend]
    p = fastgrad.ones(3)._impl
    g = fastgrad.ones(3)._impl
    with pytest.raises(ValueError, match="sgd_step_: got 1 params but 0 grads"):
        b.sgd_step_([p], [], [], 0.1, 0.0, 0.0, False, 0.0, False, False)
    with pytest.raises(ValueError, match=r"grads\[0\] has shape \(2,\)"):
        b.sgd_step_([p], [fastgrad.ones(2)._impl], [], 0.1, 0.0, 0.0, False, 0.0, False, False)
    with pytest.raises(TypeError, match=r"grads\[0\] is float64"):
        b.sgd_step_([p], [fastgrad.ones(3, dtype=fastgrad.float64)._impl], [], 0.1, 0.0, 0.0,
                    False, 0.0, False, False)
    with pytest.raises(ValueError, match="got 1 params but 0 bufs"):
        b.sgd_step_([p], [g], [], 0.1, 0.9, 0.0, False, 0.0, False, True)
    with pytest.raises(TypeError, match="floating point"):
        b.sgd_step_([fastgrad.ones(3, dtype=fastgrad.int64)._impl],
                    [fastgrad.ones(3, dtype=fastgrad.int64)._impl], [], 0.1, 0.0, 0.0, False, 0.0,
                    False, False)
    with pytest.raises(ValueError, match="adam_step_: got 1 params but 0 exp_avgs"):
        b.adam_step_([p], [g], [], [], [], [1], 0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False)
    m, v = fastgrad.zeros(3)._impl, fastgrad.zeros(3)._impl
    b.adam_step_([p], [g], [m], [v], [], [1], 0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False)
    np.testing.assert_allclose(b.to_numpy(p), 0.9, rtol=1e-6)


def test_update_is_independent_of_thread_count() -> None:
    if "cpp" not in _backend.available():
        pytest.skip(f"the C++ backend did not import: {_backend._core_error}")
    prev_backend = fastgrad.get_backend()
    fastgrad.set_backend("cpp")
    rng = np.random.default_rng(0)
    n = 1_100_000  # above kParallelMin (1 << 20): several chunks
    g = rng.standard_normal(n).astype(np.float32)
    results = []
    prev = fastgrad.get_num_threads()
    try:
        for threads in (1, 2, 3):
            fastgrad.set_num_threads(threads)
            p = nn.Parameter(fastgrad.ones(n))
            opt = optim.Adam([p], lr=0.1, weight_decay=0.1)
            for _ in range(2):
                p.grad = fastgrad.tensor(g)
                opt.step()
            results.append(p.detach().numpy().copy())
    finally:
        fastgrad.set_num_threads(prev)
        fastgrad.set_backend(prev_backend)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_backends_agree_bitwise_on_sgd() -> None:
    if "cpp" not in _backend.available():
        pytest.skip(f"the C++ backend did not import: {_backend._core_error}")
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(1000).astype(np.float32)
    gs = [rng.standard_normal(1000).astype(np.float32) for _ in range(3)]
    out = []
    prev = fastgrad.get_backend()
    try:
        for name in ("cpp", "python"):
            fastgrad.set_backend(name)
            p = nn.Parameter(fastgrad.tensor(p0))
            opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
            for g in gs:
                p.grad = fastgrad.tensor(g)
                opt.step()
            out.append(p.detach().numpy().copy())
    finally:
        fastgrad.set_backend(prev)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-6, atol=1e-7)
