"""The device surface of a CPU library (issue 14 item 2): fastgrad.device, Tensor.device / to /
cpu / cuda, Module.to / cpu / float / double / half / type, device= on creation functions and
layers, fastgrad.cuda / backends / accelerator, default device and dtype, load's map_location."""

from __future__ import annotations

import io
import pickle

import fastgrad
import numpy as np
import pytest
from fastgrad import nn

CPU_ONLY = "fastgrad runs on CPUs only"


def test_device_object() -> None:
    d = fastgrad.device("cpu")
    assert (d.type, d.index) == ("cpu", None)
    assert repr(d) == "device(type='cpu')" and str(d) == "cpu"
    assert fastgrad.device("cpu", 0) == fastgrad.device("cpu:0")
    assert repr(fastgrad.device("cpu:0")) == "device(type='cpu', index=0)"
    assert str(fastgrad.device("cpu", 0)) == "cpu:0"
    assert d == fastgrad.device("cpu") and d != fastgrad.device("cpu:0")
    assert d != "cpu"  # PyTorch: a device never equals a string
    assert len({d, fastgrad.device("cpu"), fastgrad.device(d)}) == 1
    assert pickle.loads(pickle.dumps(d)) == d
    c = fastgrad.device("cuda:1")  # buildable, as in PyTorch; unusable
    assert (c.type, c.index) == ("cuda", 1)
    assert fastgrad.device(0) == fastgrad.device("cuda", 0)
    with pytest.raises(RuntimeError, match="device type"):
        fastgrad.device("gpu")
    with pytest.raises(RuntimeError, match="invalid"):
        fastgrad.device("cpu:x")
    with fastgrad.device("cpu"):
        pass
    with pytest.raises(RuntimeError, match=CPU_ONLY), fastgrad.device("cuda"):
        pass


def test_tensor_device_and_to(backend: str) -> None:
    torch_like = fastgrad.device("cpu")
    x = fastgrad.randn(2, 3, requires_grad=True)
    assert x.device == torch_like and not x.is_cuda and x.is_cpu and x.get_device() == -1
    for same in (x.to("cpu"), x.to(torch_like), x.to(fastgrad.float32), x.to(device="cpu"),
                 x.to("cpu", fastgrad.float32), x.to(x), x.to("cpu", non_blocking=True),
                 x.to(memory_format=None), x.cpu()):
        assert same is x
    y = x.to(torch_like, fastgrad.float64)
    assert y.dtype is fastgrad.float64 and y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3), np.float32))
    assert x.to(dtype=fastgrad.float64, device=torch_like).dtype is fastgrad.float64
    assert x.to(fastgrad.zeros(1, dtype=fastgrad.int64)).dtype is fastgrad.int64
    assert x.to("cpu:0", fastgrad.float64).dtype is fastgrad.float64
    c = x.to(copy=True)
    assert c is not x and np.array_equal(c.detach().numpy(), x.detach().numpy())
    assert x.detach().to(fastgrad.float64, copy=True).dtype is fastgrad.float64
    for bad in ("cuda", "cuda:0", "mps", fastgrad.device("cuda", 1), 0):
        with pytest.raises(RuntimeError, match=CPU_ONLY) as e:
            x.to(bad)
        name = bad if isinstance(bad, str) else ("cuda:0" if bad == 0 else str(bad))
        assert repr(name) in str(e.value)
    with pytest.raises(RuntimeError, match=CPU_ONLY):
        x.to(device="cuda", dtype=fastgrad.float64)
    with pytest.raises(RuntimeError, match=f"{CPU_ONLY}.*'cuda'"):
        x.cuda()
    with pytest.raises(RuntimeError, match="'cuda:1'"):
        x.cuda(1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        x.to(devise="cpu")


def test_creation_functions_take_device(backend: str) -> None:
    cpu = fastgrad.device("cpu")
    t = fastgrad.ones(2)
    made = [
        fastgrad.tensor([1.0], device="cpu"), fastgrad.zeros(2, device=cpu),
        fastgrad.ones(2, 3, device="cpu"), fastgrad.full((2,), 3.0, device=cpu),
        fastgrad.empty(2, device="cpu"), fastgrad.eye(2, device="cpu"),
        fastgrad.arange(3, device="cpu"), fastgrad.linspace(0, 1, 3, device="cpu"),
        fastgrad.rand(2, device="cpu"), fastgrad.randn(2, device=cpu),
        fastgrad.randint(0, 3, (2,), device="cpu"), fastgrad.zeros_like(t, device="cpu"),
        fastgrad.ones_like(t, device=cpu), fastgrad.full_like(t, 2, device="cpu"),
        fastgrad.rand_like(t, device="cpu"), fastgrad.randn_like(t, device="cpu"),
        fastgrad.empty_like(t, device="cpu"), t.new_zeros(2, device="cpu"),
        t.new_ones((2,), device=cpu), t.new_empty(2, device="cpu"),
        t.new_full((2,), 1.0, device="cpu"), t.new_tensor([1.0], device="cpu"),
    ]
    assert all(m.device == cpu for m in made)
    calls = [
        lambda d: fastgrad.tensor([1.0], device=d), lambda d: fastgrad.zeros(2, device=d),
        lambda d: fastgrad.ones(2, device=d), lambda d: fastgrad.full((2,), 1.0, device=d),
        lambda d: fastgrad.empty(2, device=d), lambda d: fastgrad.eye(2, device=d),
        lambda d: fastgrad.arange(3, device=d), lambda d: fastgrad.linspace(0, 1, 3, device=d),
        lambda d: fastgrad.rand(2, device=d), lambda d: fastgrad.randn(2, device=d),
        lambda d: fastgrad.randint(3, size=(2,), device=d),
        lambda d: fastgrad.zeros_like(t, device=d), lambda d: fastgrad.randn_like(t, device=d),
        lambda d: t.new_zeros(2, device=d), lambda d: t.new_ones(2, device=d),
        lambda d: t.new_empty(2, device=d), lambda d: t.new_full((2,), 1.0, device=d),
        lambda d: t.new_tensor([1.0], device=d),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match=f"{CPU_ONLY}.*'cuda:0'"):
            call("cuda:0")


def test_module_to_and_casts(backend: str) -> None:
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    params = list(m.parameters())
    m.register_buffer("steps", fastgrad.zeros(1, dtype=fastgrad.int64))
    m.register_buffer("scale", fastgrad.ones(1))
    opt = fastgrad.optim.SGD(m.parameters(), lr=0.1)
    m(fastgrad.randn(5, 3)).sum().backward()
    assert m.to("cpu") is m and m.cpu() is m and m.to(fastgrad.device("cpu")) is m
    assert m.double() is m
    assert list(m.parameters()) == params and all(p is q for p, q in zip(m.parameters(), params))
    for p in params:
        assert p.dtype is fastgrad.float64 and p.requires_grad and p.is_leaf
        assert p.grad.dtype is fastgrad.float64
    assert m.steps.dtype is fastgrad.int64 and m.scale.dtype is fastgrad.float64
    before = params[0].detach().numpy().copy()
    opt.step()  # the optimizer holds the same Parameter objects
    assert not np.array_equal(params[0].detach().numpy(), before)
    out = m(fastgrad.randn(5, 3, dtype=fastgrad.float64))
    assert out.dtype is fastgrad.float64
    m.float()
    assert all(p.dtype is fastgrad.float32 for p in m.parameters())
    m.to(fastgrad.float64)
    assert params[0].dtype is fastgrad.float64
    m.to("cpu", fastgrad.float32)
    assert params[0].dtype is fastgrad.float32
    m.to(fastgrad.zeros(1, dtype=fastgrad.float64))
    assert params[0].dtype is fastgrad.float64
    m.type(fastgrad.float32)
    assert params[0].dtype is fastgrad.float32
    with pytest.raises(TypeError, match="floating point"):
        m.to(fastgrad.int64)
    with pytest.raises(RuntimeError, match=CPU_ONLY):
        m.to("cuda")
    with pytest.raises(RuntimeError, match=CPU_ONLY):
        m.cuda()
    with pytest.raises(TypeError, match="float16"):
        m.half()
    sd = m.state_dict()
    assert sd["0.weight"].dtype is fastgrad.float32


def test_layers_take_device_and_dtype(backend: str) -> None:
    lin = nn.Linear(3, 2, device="cpu", dtype=fastgrad.float64)
    assert lin.weight.dtype is fastgrad.float64 and lin.bias.device == fastgrad.device("cpu")
    assert nn.Linear(3, 2, bias=False, device=fastgrad.device("cpu")).bias is None
    with pytest.raises(RuntimeError, match=f"Linear: {CPU_ONLY}.*'cuda'"):
        nn.Linear(3, 2, device="cuda")
    from fastgrad._device import factory_kwargs

    assert factory_kwargs(None, None) == {"dtype": fastgrad.float32}
    assert factory_kwargs("cpu", "float64") == {"dtype": fastgrad.float64}


def test_default_dtype(backend: str) -> None:
    assert fastgrad.get_default_dtype() is fastgrad.float32
    try:
        fastgrad.set_default_dtype(fastgrad.float64)
        assert fastgrad.get_default_dtype() is fastgrad.float64
        for t in (fastgrad.tensor([1.5]), fastgrad.tensor(2.0), fastgrad.zeros(2),
                  fastgrad.ones(2), fastgrad.full((2,), 1.5), fastgrad.rand(2), fastgrad.randn(2),
                  fastgrad.arange(0.0, 1.0, 0.5), fastgrad.linspace(0, 1, 3), fastgrad.eye(2),
                  nn.Linear(2, 2).weight):
            assert t.dtype is fastgrad.float64
        assert fastgrad.tensor([1, 2]).dtype is fastgrad.int64
        assert fastgrad.tensor(np.ones(2, np.float32)).dtype is fastgrad.float32
        assert fastgrad.full((2,), 3).dtype is fastgrad.int64
    finally:
        fastgrad.set_default_dtype(fastgrad.float32)
    assert fastgrad.tensor([1.5]).dtype is fastgrad.float32
    with pytest.raises(TypeError, match="floating"):
        fastgrad.set_default_dtype(fastgrad.int64)


def test_default_device_and_accelerators() -> None:
    fastgrad.set_default_device("cpu")
    fastgrad.set_default_device(fastgrad.device("cpu"))
    fastgrad.set_default_device(None)
    assert fastgrad.get_default_device() == fastgrad.device("cpu")
    for bad in ("cuda", "mps", "cuda:0"):
        with pytest.raises(RuntimeError, match=f"{CPU_ONLY}.*'{bad}'"):
            fastgrad.set_default_device(bad)
    assert fastgrad.cuda.is_available() is False and fastgrad.cuda.device_count() == 0
    fastgrad.cuda.manual_seed(0)
    fastgrad.cuda.manual_seed_all(0)
    fastgrad.cuda.empty_cache()
    with pytest.raises(RuntimeError, match=CPU_ONLY):
        fastgrad.cuda.current_device()
    assert fastgrad.backends.mps.is_available() is False
    assert fastgrad.backends.mps.is_built() is False
    assert fastgrad.backends.cudnn.is_available() is False
    prev = fastgrad.backends.cudnn.benchmark, fastgrad.backends.cudnn.deterministic
    fastgrad.backends.cudnn.benchmark = True
    fastgrad.backends.cudnn.deterministic = True
    assert fastgrad.backends.cudnn.benchmark and fastgrad.backends.cudnn.deterministic
    fastgrad.backends.cudnn.benchmark, fastgrad.backends.cudnn.deterministic = prev
    fastgrad.backends.cuda.matmul.allow_tf32 = False
    assert isinstance(fastgrad.backends.openmp.is_available(), bool)
    assert fastgrad.accelerator.is_available() is False
    assert fastgrad.accelerator.current_accelerator() is None


def test_save_load_arguments(backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sd = nn.Linear(2, 3).state_dict()
    path = tmp_path / "m.pt"
    fastgrad.save(sd, str(path))
    fastgrad.save(sd, path, pickle_protocol=4)
    buf = io.BytesIO()
    fastgrad.save(sd, buf)
    for kwargs in ({}, {"map_location": "cpu"}, {"map_location": fastgrad.device("cpu")},
                   {"map_location": {"cuda:0": "cpu"}}, {"weights_only": True},
                   {"weights_only": False, "map_location": lambda s, loc: s}, {"mmap": None},
                   {"map_location": lambda s, loc: None}):
        for f in (path, str(path), io.BytesIO(buf.getvalue())):
            out = fastgrad.load(f, **kwargs)
            assert list(out) == ["weight", "bias"]
            np.testing.assert_array_equal(out["weight"].numpy(), sd["weight"].numpy())
    doubled = fastgrad.load(path, map_location=lambda s, loc: s.double())
    assert doubled["bias"].dtype is fastgrad.float64
    for bad in ("cuda", "cuda:0", fastgrad.device("mps"), {"cpu": "cuda:0"}):
        with pytest.raises(RuntimeError, match=f"load: map_location: {CPU_ONLY}"):
            fastgrad.load(path, map_location=bad)
    with pytest.raises(RuntimeError, match=CPU_ONLY):
        fastgrad.load(path, map_location=lambda s, loc: s.cuda())



@pytest.mark.parametrize("make", [
    lambda d: fastgrad.nn.Conv2d(1, 2, 3, device=d), lambda d: fastgrad.nn.LSTM(3, 4, device=d),
    lambda d: fastgrad.nn.Embedding(5, 3, device=d), lambda d: fastgrad.nn.BatchNorm2d(3, device=d),
    lambda d: fastgrad.nn.MultiheadAttention(4, 2, device=d),
    lambda d: fastgrad.nn.TransformerEncoderLayer(8, 2, 16, device=d),
])
def test_every_layer_takes_cpu_devices_and_refuses_others(make) -> None:  # type: ignore[no-untyped-def]
    for d in ("cpu", "cpu:0", fastgrad.device("cpu"), None):
        make(d)
    with pytest.raises(RuntimeError, match="fastgrad runs on CPUs only: device 'cuda:1'"):
        make("cuda:1")
