"""fastgrad.optim.lr_scheduler against torch.optim.lr_scheduler: each scheduler's learning-rate
sequence (and momentum, for the cycling ones) over ~30 steps, two parameter groups, including a
state_dict round trip halfway; argument checks."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip
from fastgrad import nn, optim
from fastgrad.optim import lr_scheduler as ls


def _opts(torch: Any, opt_name: str = "SGD", **kw: Any) -> tuple[Any, Any]:
    a, b = nn.Parameter(fastgrad.ones(2)), nn.Parameter(fastgrad.ones(2))
    ta, tb = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    kw = {"lr": 0.1, **kw}
    ours = getattr(optim, opt_name)([{"params": [a]}, {"params": [b], "lr": 0.05}], **kw)
    theirs = getattr(torch.optim, opt_name)([{"params": [ta]}, {"params": [tb], "lr": 0.05}],
                                            **kw)
    return ours, theirs


def _momenta(opt: Any) -> list:
    return [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]


def _sequence(opt: Any, sched: Any, steps: int, metric: Callable[[int], float] | None,
              resume: Callable[[dict], Any] | None = None) -> list:
    out = []
    for i in range(steps):
        out.append((list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups],
                    _momenta(opt)))
        opt.step()
        if metric is None:
            sched.step()
        else:
            sched.step(metric(i))
        if resume is not None and i == steps // 2:
            sched = resume(sched.state_dict())
    out.append((list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups], _momenta(opt)))
    return out


def _plateau_metric(i: int) -> float:
    return [5, 4, 4, 4.5, 4.2, 4.1, 4.3, 3, 3, 3, 3, 3, 2.9999, 3][i % 14] + 0.0


# name -> (factory(lib_scheduler_module, optimizer), optimizer name, optimizer kwargs, metric)
def _cases() -> dict[str, tuple]:
    return {
        "LambdaLR": (lambda m, o: m.LambdaLR(o, lambda e: 0.9**e), "SGD", {}, None),
        "LambdaLR-list": (lambda m, o: m.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.5]),
                          "SGD", {}, None),
        "MultiplicativeLR": (lambda m, o: m.MultiplicativeLR(o, lambda e: 0.95), "SGD", {}, None),
        "StepLR": (lambda m, o: m.StepLR(o, step_size=4, gamma=0.5), "SGD", {}, None),
        "MultiStepLR": (lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7, 20], gamma=0.3),
                        "SGD", {}, None),
        "ConstantLR": (lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=6), "SGD", {}, None),
        "LinearLR": (lambda m, o: m.LinearLR(o, start_factor=0.2, end_factor=0.9,
                                             total_iters=12), "SGD", {}, None),
        "ExponentialLR": (lambda m, o: m.ExponentialLR(o, gamma=0.93), "SGD", {}, None),
        "PolynomialLR": (lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0), "SGD", {},
                         None),
        "CosineAnnealingLR": (lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
                              "SGD", {}, None),
        "CosineAnnealingWarmRestarts": (
            lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01), "SGD",
            {}, None),
        "CyclicLR-triangular2-sgd": (
            lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=4,
                                    step_size_down=3, mode="triangular2"), "SGD",
            {"momentum": 0.9}, None),
        "CyclicLR-exp_range-adam": (
            lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=5,
                                    mode="exp_range", gamma=0.97), "Adam", {}, None),
        "CyclicLR-no-momentum": (
            lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=6, cycle_momentum=False), "SGD",
            {}, None),
        "OneCycleLR-cos-sgd": (lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=31), "SGD",
                               {"momentum": 0.9}, None),
        "OneCycleLR-linear-3phase-adam": (
            lambda m, o: m.OneCycleLR(o, max_lr=[0.1, 0.3], epochs=4, steps_per_epoch=8,
                                      pct_start=0.25, anneal_strategy="linear",
                                      three_phase=True), "Adam", {}, None),
        "ReduceLROnPlateau": (lambda m, o: m.ReduceLROnPlateau(o, patience=2, factor=0.5,
                                                               cooldown=1, min_lr=[0.0, 0.01]),
                              "SGD", {}, _plateau_metric),
        "ReduceLROnPlateau-max-abs": (
            lambda m, o: m.ReduceLROnPlateau(o, "max", patience=1, threshold=0.5,
                                             threshold_mode="abs"), "SGD", {}, _plateau_metric),
        "SequentialLR": (lambda m, o: m.SequentialLR(
            o, [m.LinearLR(o, start_factor=0.1, total_iters=4), m.ExponentialLR(o, 0.9),
                m.CosineAnnealingLR(o, T_max=6)], milestones=[5, 15]), "SGD", {}, None),
        "ChainedScheduler": (lambda m, o: m.ChainedScheduler(
            [m.ConstantLR(o, factor=0.5, total_iters=5), m.ExponentialLR(o, gamma=0.9)]),
            "SGD", {}, None),
    }


@pytest.mark.parametrize("name", list(_cases()))
@pytest.mark.parametrize("resume", [False, True], ids=["straight", "state_dict"])
def test_sequence_matches_torch(name: str, resume: bool) -> None:
    torch = torch_or_skip()
    make, opt_name, kw, metric = _cases()[name]
    steps = 30
    opt, topt = _opts(torch, opt_name, **kw)
    sched = make(ls, opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tsched = make(torch.optim.lr_scheduler, topt)
        theirs = _sequence(topt, tsched, steps, metric)

    def resumed(sd: dict) -> Any:
        # a checkpoint restored as training scripts do: a fresh scheduler (whose construction
        # step changes the lrs), then the optimizer's and the scheduler's saved states
        osd = opt.state_dict()
        new = make(ls, opt)
        opt.load_state_dict(osd)
        new.load_state_dict(sd)
        return new

    ours = _sequence(opt, sched, steps, metric, resumed if resume else None)
    for i, (o, t) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(np.array(o[0], float), np.array(t[0], float), rtol=1e-12,
                                   atol=1e-15, err_msg=f"get_last_lr at step {i}")
        np.testing.assert_allclose(np.array(o[1], float), np.array(t[1], float), rtol=1e-12,
                                   atol=1e-15, err_msg=f"group lr at step {i}")
        if o[2][0] is not None:
            np.testing.assert_allclose(np.array(o[2], float), np.array(t[2], float),
                                       rtol=1e-12, err_msg=f"momentum at step {i}")
    assert [g.get("initial_lr") for g in opt.param_groups] == \
        [g.get("initial_lr") for g in topt.param_groups] or "ReduceLROnPlateau" in name


def test_state_dict_keys_match_torch() -> None:
    torch = torch_or_skip()
    opt, topt = _opts(torch)
    for make in (lambda m, o: m.StepLR(o, 3), lambda m, o: m.CosineAnnealingLR(o, 5),
                 lambda m, o: m.ReduceLROnPlateau(o)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tsd = make(torch.optim.lr_scheduler, topt).state_dict()
        sd = make(ls, opt).state_dict()
        public = {k for k in tsd if not k.startswith("_")}
        assert public <= set(sd), public - set(sd)
        assert sd["last_epoch"] == tsd["last_epoch"]


def test_fractional_epoch_and_resume_checks() -> None:
    torch = torch_or_skip()
    opt, topt = _opts(torch)
    s = ls.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=4, T_mult=2)
    for e in (0.5, 1.5, 4.2, 13.0, 2.0):
        s.step(e)
        ts.step(e)
        np.testing.assert_allclose(s.get_last_lr(), ts.get_last_lr(), rtol=1e-12)
    p = nn.Parameter(fastgrad.ones(1))
    with pytest.raises(KeyError, match="initial_lr"):
        ls.StepLR(optim.SGD([p], lr=0.1), 3, last_epoch=5)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        ls.StepLR(object(), 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="between 0 and 1"):
        ls.ConstantLR(optim.SGD([p], lr=0.1), factor=2.0)
    with pytest.raises(ValueError, match="total_steps"):
        ls.OneCycleLR(optim.SGD([p], lr=0.1, momentum=0.9), max_lr=1.0)
    with pytest.raises(ValueError, match="momentum"):
        ls.CyclicLR(optim.Adagrad([p]), 0.01, 0.1)
    o = optim.SGD([p], lr=0.1)
    sched = ls.OneCycleLR(o, 0.1, total_steps=2, cycle_momentum=False)
    o.step()
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        sched.step()
    assert ls._LRScheduler.__mro__[1] is ls.LRScheduler
