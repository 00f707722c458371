"""RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam and LBFGS against PyTorch in float64 on the
same weights and gradients (five steps, the option combinations that change the formulas), on
both backends; the kernels' checks, state_dict round trips, float32 parity between backends and
thread-count independence."""

from __future__ import annotations

from typing import Any

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn, optim

SHAPES = [(3, 4), (5,), (2, 1, 3)]

CONFIGS: dict[str, list[dict[str, Any]]] = {
    "RMSprop": [
        {},
        {"lr": 0.01, "momentum": 0.9},
        {"lr": 0.01, "centered": True},
        {"lr": 0.02, "alpha": 0.3, "centered": True, "momentum": 0.5, "weight_decay": 0.1},
        {"lr": 0.01, "maximize": True, "eps": 1e-3, "weight_decay": 0.01},
    ],
    "Adagrad": [
        {},
        {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1},
        {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-3, "maximize": True},
    ],
    "Adadelta": [
        {},
        {"lr": 0.5, "rho": 0.5, "weight_decay": 0.1},
        {"eps": 1e-3, "maximize": True},
    ],
    "Adamax": [
        {},
        {"lr": 0.01, "betas": (0.3, 0.5), "weight_decay": 0.1},
        {"maximize": True, "eps": 1e-3},
    ],
    "NAdam": [
        {},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        {"betas": (0.3, 0.8), "momentum_decay": 0.1, "maximize": True},
    ],
    "RAdam": [
        {},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        {"betas": (0.3, 0.5), "maximize": True},  # rho_t > 5 from step 2 on: both branches
    ],
}
CASES = [(name, cfg) for name, cfgs in CONFIGS.items() for cfg in cfgs]


def _id(case: tuple[str, dict]) -> str:
    name, cfg = case
    return name + "".join(f"-{k}{v}" for k, v in cfg.items())


def _run_ours(name: str, cfg: dict, dtype: Any, steps: int = 5) -> tuple[list, Any]:
    rng = np.random.default_rng(0)
    ps = [nn.Parameter(fastgrad.tensor(rng.standard_normal(s).astype(dtype.np))) for s in SHAPES]
    opt = getattr(optim, name)(ps, **cfg)
    for _ in range(steps):
        for p in ps:  # a gradient that depends on the weights, so the state matters
            g = rng.standard_normal(p.shape) + 0.5 * np.asarray(p.detach())
            p.grad = fastgrad.tensor(g.astype(dtype.np))
        opt.step()
    return [np.array(p.detach()) for p in ps], opt


def _run_torch(torch: Any, name: str, cfg: dict, steps: int = 5) -> tuple[list, Any]:
    rng = np.random.default_rng(0)
    ps = [torch.nn.Parameter(torch.from_numpy(rng.standard_normal(s))) for s in SHAPES]
    opt = getattr(torch.optim, name)(ps, **cfg)
    for _ in range(steps):
        for p in ps:
            g = rng.standard_normal(p.shape) + 0.5 * p.detach().numpy()
            p.grad = torch.from_numpy(g)
        opt.step()
    return [p.detach().numpy().copy() for p in ps], opt


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_matches_torch_float64(backend: str, case: tuple[str, dict]) -> None:
    torch = torch_or_skip()
    name, cfg = case
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # NAdam's mu_product is a default-dtype tensor
    try:
        theirs, topt = _run_torch(torch, name, cfg)
    finally:
        torch.set_default_dtype(prev)
    ours, opt = _run_ours(name, cfg, fastgrad.float64)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    # same state keys and values
    sd, tsd = opt.state_dict(), topt.state_dict()
    for k, tst in tsd["state"].items():
        st = sd["state"][k]
        assert set(st) == set(tst), (st.keys(), tst.keys())
        for key, tv in tst.items():
            v = st[key]
            if key == "step":
                assert int(v) == int(tv.item())
            else:
                np.testing.assert_allclose(np.asarray(v.detach() if hasattr(v, "detach") else v),
                                           tv.detach().numpy(), rtol=1e-11, atol=1e-13)
    tgroup = tsd["param_groups"][0]
    for k, v in sd["param_groups"][0].items():
        if k in tgroup:
            assert tgroup[k] == (list(v) if isinstance(tgroup[k], list) else v), k


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_backends_agree_float32(case: tuple[str, dict]) -> None:
    name, cfg = case
    if "cpp" not in fastgrad._backend.available():
        pytest.skip("no C++ backend")
    prev = fastgrad.get_backend()
    try:
        out = {}
        for b in ("cpp", "python"):
            fastgrad.set_backend(b)
            out[b], _ = _run_ours(name, cfg, fastgrad.float32)
    finally:
        fastgrad.set_backend(prev)
    for a, c in zip(out["cpp"], out["python"]):
        np.testing.assert_allclose(a, c, rtol=2e-5, atol=2e-6)


def test_defaults_are_torchs() -> None:
    torch = torch_or_skip()
    p, tp = [nn.Parameter(fastgrad.ones(2))], [torch.nn.Parameter(torch.ones(2))]
    for name in CONFIGS:
        ours = getattr(optim, name)(p).defaults
        theirs = getattr(torch.optim, name)(tp).defaults
        for k, v in ours.items():
            assert theirs[k] == v, (name, k)
    ours = optim.LBFGS(p).defaults
    theirs = torch.optim.LBFGS(tp).defaults
    assert ours == {k: theirs[k] for k in ours}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_state_dict_round_trip(backend: str, name: str, tmp_path: Any) -> None:
    """Five steps, save, load into a fresh optimizer, five more == ten steps straight."""
    cfg = CONFIGS[name][1]
    ref, _ = _run_ours(name, cfg, fastgrad.float64, steps=10)
    rng = np.random.default_rng(0)
    ps = [nn.Parameter(fastgrad.tensor(rng.standard_normal(s))) for s in SHAPES]
    opt = getattr(optim, name)(ps, **cfg)

    def run(o: Any, n: int) -> None:
        for _ in range(n):
            for p in ps:
                p.grad = fastgrad.tensor(rng.standard_normal(p.shape) + 0.5 * np.asarray(p.detach()))
            o.step()

    run(opt, 5)
    fastgrad.save(opt.state_dict(), tmp_path / "opt.npz")
    opt2 = getattr(optim, name)(ps, lr=123.0)
    opt2.load_state_dict(fastgrad.load(tmp_path / "opt.npz"))
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    run(opt2, 5)
    for p, r in zip(ps, ref):
        np.testing.assert_allclose(np.asarray(p.detach()), r, rtol=1e-13, atol=1e-14)


def test_param_groups_and_grad_none(backend: str) -> None:
    a, b, c = (nn.Parameter(fastgrad.ones(3)) for _ in range(3))
    opt = optim.RMSprop([{"params": [a, c]}, {"params": [b], "lr": 0.5, "centered": True}],
                        lr=0.1)
    a.grad = fastgrad.ones(3)
    b.grad = fastgrad.ones(3)
    opt.step()
    assert c not in opt.state  # no gradient: untouched, no state
    np.testing.assert_array_equal(np.asarray(c.detach()), np.ones(3))
    assert "grad_avg" in opt.state[b] and "grad_avg" not in opt.state[a]
    assert np.asarray(b.detach())[0] < np.asarray(a.detach())[0] < 1


def test_version_bumped_and_bad_input(backend: str) -> None:
    p = nn.Parameter(fastgrad.ones(3))
    b = p._b
    p.grad = fastgrad.ones(3)
    opt = optim.Adamax([p])
    v0 = p._version
    opt.step()
    assert p._version > v0
    with pytest.raises(ValueError, match="adagrad_step_"):
        b.adagrad_step_([p._impl], [fastgrad.ones(4)._impl], [fastgrad.zeros(3)._impl], [1],
                        0.1, 0.0, 0.0, 1e-10, False)
    with pytest.raises(TypeError, match="rmsprop_step_"):
        b.rmsprop_step_([p._impl], [p._impl.grad], [fastgrad.zeros(3, dtype=fastgrad.float64)._impl],
                        [], [], 0.1, 0.99, 1e-8, 0.0, 0.0, False, False)
    with pytest.raises(ValueError, match="step counts start at 1"):
        b.radam_step_([p._impl], [p._impl.grad], [fastgrad.zeros(3)._impl],
                      [fastgrad.zeros(3)._impl], [0], 0.1, 0.9, 0.99, 1e-8, 0.0, False, False)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.NAdam([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.RAdam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Invalid rho value"):
        optim.Adadelta([p], rho=1.5)


def test_thread_count_independent() -> None:
    """A parameter above the parallel threshold: bitwise the same with 1 and 2 threads."""
    if "cpp" not in fastgrad._backend.available():
        pytest.skip("no C++ backend")
    prev_backend, prev_threads = fastgrad.get_backend(), fastgrad.get_num_threads()
    fastgrad.set_backend("cpp")
    try:
        results = []
        for threads in (1, 2):
            fastgrad.set_num_threads(threads)
            rng = np.random.default_rng(0)
            p = nn.Parameter(fastgrad.tensor(rng.standard_normal(1 << 20).astype(np.float32)))
            opt = optim.RMSprop([p], momentum=0.9, centered=True)
            for _ in range(2):
                p.grad = fastgrad.tensor(rng.standard_normal(1 << 20).astype(np.float32))
                opt.step()
            results.append(np.array(p.detach()))
        np.testing.assert_array_equal(results[0], results[1])
    finally:
        fastgrad.set_num_threads(prev_threads)
        fastgrad.set_backend(prev_backend)


# --- LBFGS ---------------------------------------------------------------------------------------
def _rosenbrock(x: Any, y: Any) -> Any:
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
@pytest.mark.parametrize("problem", ["rosenbrock", "quadratic"])
def test_lbfgs_matches_torch(backend: str, line_search: str | None, problem: str) -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 4))
    bvec = rng.standard_normal(6)
    start = np.array([-1.5, 2.0]) if problem == "rosenbrock" else rng.standard_normal(4)

    def loss_of(w: Any, lib: Any) -> Any:
        if problem == "rosenbrock":
            return _rosenbrock(w[0], w[1])
        r = lib_mv(lib, w) - (fastgrad.tensor(bvec) if lib is fastgrad else torch.from_numpy(bvec))
        return (r * r).sum() + 0.1 * (w * w).sum()

    def lib_mv(lib: Any, w: Any) -> Any:
        m = fastgrad.tensor(a) if lib is fastgrad else torch.from_numpy(a)
        return m @ w

    kw = {"lr": 1 if line_search else 0.1, "max_iter": 12, "history_size": 5,
          "line_search_fn": line_search}
    w = nn.Parameter(fastgrad.tensor(start.copy()))
    tw = torch.nn.Parameter(torch.from_numpy(start.copy()))
    opt, topt = optim.LBFGS([w], **kw), torch.optim.LBFGS([tw], **kw)

    def closure() -> Any:
        opt.zero_grad()
        loss = loss_of(w, fastgrad)
        loss.backward()
        return loss

    def tclosure() -> Any:
        topt.zero_grad()
        loss = loss_of(tw, torch)
        loss.backward()
        return loss

    for _ in range(4):
        ours, theirs = opt.step(closure), topt.step(tclosure)
        np.testing.assert_allclose(float(ours), float(theirs.detach()), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.asarray(w.detach()), tw.detach().numpy(), rtol=1e-8,
                                   atol=1e-10)
    st, tst = opt.state[w], topt.state[tw]
    assert st["func_evals"] == tst["func_evals"] and st["n_iter"] == tst["n_iter"]
    if problem == "rosenbrock" and line_search:
        np.testing.assert_allclose(np.asarray(w.detach()), [1.0, 1.0], atol=1e-4)


def test_lbfgs_trains_a_model(backend: str) -> None:
    fastgrad.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 8, dtype=fastgrad.float64), nn.Tanh(),
                      nn.Linear(8, 1, dtype=fastgrad.float64))
    rng = np.random.default_rng(0)
    x = fastgrad.tensor(rng.standard_normal((20, 3)))
    y = fastgrad.tensor(rng.standard_normal((20, 1)))
    opt = optim.LBFGS(m.parameters(), line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        return loss

    first = float(opt.step(closure))
    for _ in range(3):
        last = float(opt.step(closure))
    assert last < 0.5 * first
    with pytest.raises(RuntimeError, match="closure"):
        opt.step(None)  # type: ignore[arg-type]


def test_adagrad_state_from_construction(backend: str) -> None:
    p = nn.Parameter(fastgrad.ones(2))
    opt = optim.Adagrad([p], initial_accumulator_value=0.3)
    st = opt.state_dict()["state"][0]
    assert st["step"] == 0
    np.testing.assert_allclose(np.asarray(st["sum"]), [0.3, 0.3], rtol=1e-6)
    q = nn.Parameter(fastgrad.ones(2))
    opt.add_param_group({"params": [q]})
    q.grad = fastgrad.ones(2)
    opt.step()
    np.testing.assert_allclose(np.asarray(opt.state[q]["sum"]), [1.3, 1.3], rtol=1e-6)
