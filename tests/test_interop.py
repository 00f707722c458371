"""Interop with PyTorch and friends: checkpoints in torch.save's zip format both ways, a refused
malicious pickle, safetensors both ways, DLPack memory sharing with NumPy and PyTorch.
Torch and safetensors checks skip cleanly when those packages are absent.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict

import fastgrad
import numpy as np
import pytest
from conftest import torch_or_skip


def _mlp() -> fastgrad.nn.Module:
    return fastgrad.nn.Sequential(fastgrad.nn.Linear(3, 4), fastgrad.nn.ReLU(),
                                  fastgrad.nn.Linear(4, 2))


def _step(model, opt, x):  # type: ignore[no-untyped-def]
    opt.zero_grad()
    model(x).sum().backward()
    opt.step()


def test_torch_format_round_trip_without_torch(backend, tmp_path) -> None:
    x = fastgrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    p = fastgrad.nn.Parameter(fastgrad.ones(2, dtype=fastgrad.float64))
    obj = {"x": x, "xt": x.t(), "row": x[1], "i": fastgrad.tensor([1, -2]),
           "b": fastgrad.tensor([True, False]), "p": p, "n": 3, "big": 2 ** 40, "neg": -70000,
           "f": 0.1, "s": "héllo", "none": None, "tup": (1, 2, 3, 4), "l": [1, [2.5]],
           "od": OrderedDict(a=1), "flag": True, 7: "int key"}
    path = tmp_path / "c.pt"
    fastgrad.save(obj, path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert "c/data.pkl" in names and "c/byteorder" in names and "c/version" in names
    r = fastgrad.load(path)
    assert set(r) == set(obj)
    for k in ("x", "xt", "row", "i", "b", "p"):
        assert r[k].dtype == obj[k].dtype and r[k].shape == obj[k].shape
        np.testing.assert_array_equal(r[k].detach().numpy(), obj[k].detach().numpy())
    assert isinstance(r["p"], fastgrad.nn.Parameter) and r["p"].requires_grad
    assert isinstance(r["od"], OrderedDict) and r["tup"] == (1, 2, 3, 4)
    assert [r[k] for k in ("n", "big", "neg", "f", "s", "none", "l", "flag", 7)] == \
        [3, 2 ** 40, -70000, 0.1, "héllo", None, [1, [2.5]], True, "int key"]
    r["x"][0, 1] = 100.0  # views of one storage stay views of one storage
    assert r["xt"][1, 0].item() == 100.0 and r["row"][1].item() == 5.0


def test_format_choice(backend, tmp_path) -> None:
    sd = {"w": fastgrad.ones(2)}
    fastgrad.save(sd, tmp_path / "a.npz")
    fastgrad.save(sd, tmp_path / "a.pth")
    fastgrad.save(sd, tmp_path / "a.safetensors")
    fastgrad.save(sd, tmp_path / "a.data", format="torch")
    assert np.load(tmp_path / "a.npz")["w"].tolist() == [1.0, 1.0]
    assert zipfile.ZipFile(tmp_path / "a.pth").namelist()[0] == "a/data.pkl"
    assert zipfile.ZipFile(tmp_path / "a.data").namelist()[0] == "a/data.pkl"
    for name in ("a.npz", "a.pth", "a.safetensors", "a.data"):
        assert fastgrad.load(tmp_path / name)["w"].tolist() == [1.0, 1.0]
    buf = io.BytesIO()
    fastgrad.save(sd, buf, format="torch")
    buf.seek(0)
    assert fastgrad.load(buf)["w"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="format must be"):
        fastgrad.save(sd, buf, format="onnx")
    with pytest.raises(TypeError, match="flat dict"):
        fastgrad.save({"a": {"b": fastgrad.ones(1)}}, tmp_path / "n.safetensors")
    with pytest.raises(TypeError, match="NumPy arrays"):
        fastgrad.save({"a": np.ones(2)}, tmp_path / "n.pt")
    with pytest.raises(RuntimeError, match="map_location"):
        fastgrad.load(tmp_path / "a.pth", map_location="cuda")


def _evil_zip(data_pkl: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as w:
        w.writestr("archive/data.pkl", data_pkl)
        w.writestr("archive/byteorder", "little")
        w.writestr("archive/version", "3\n")
    return out.getvalue()


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("touch PWNED_BY_FASTGRAD_TEST",))


def test_malicious_pickle_is_refused(backend, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    path.write_bytes(_evil_zip(pickle.dumps({"x": _Evil()}, protocol=2)))
    with pytest.raises(pickle.UnpicklingError, match=r"asks for (posix|nt)\.system"):
        fastgrad.load(path)
    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.eval"):
        fastgrad.load(io.BytesIO(_evil_zip(b"\x80\x02cbuiltins\neval\nX\x03\x00\x00\x001+1\x85R.")),
                      weights_only=False)  # refused whatever weights_only says
    assert not (tmp_path / "PWNED_BY_FASTGRAD_TEST").exists()
    bad_layout = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
                  b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQK\x00"
                  b"K\x05\x85K\x01\x85\x89NtR.")
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as w:
        w.writestr("archive/data.pkl", bad_layout)
        w.writestr("archive/data/0", b"\x00" * 4)
    with pytest.raises(pickle.UnpicklingError, match="reaches past its storage"):
        fastgrad.load(io.BytesIO(data.getvalue()))
    # BUILD (setting attributes) on a tensor: refused
    build = bad_layout.replace(b"K\x05\x85K\x01\x85\x89NtR.", b"K\x01\x85K\x01\x85\x89NtR"
                               b"}X\x05\x00\x00\x00_implK\x01sb.")
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as w:
        w.writestr("archive/data.pkl", build)
        w.writestr("archive/data/0", b"\x00" * 4)
    with pytest.raises(pickle.UnpicklingError, match="sets the state of a Tensor"):
        fastgrad.load(io.BytesIO(data.getvalue()))


def test_checkpoint_both_ways_with_torch(backend, tmp_path) -> None:
    torch = torch_or_skip()
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    # fastgrad -> torch: model and optimizer state
    m = _mlp()
    opt = fastgrad.optim.Adam(m.parameters(), lr=0.01)
    _step(m, opt, fastgrad.tensor(x))
    fastgrad.save({"model": m.state_dict(), "optim": opt.state_dict()}, tmp_path / "fg.pt")
    ck = torch.load(tmp_path / "fg.pt", weights_only=True)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    tm.load_state_dict(ck["model"])
    topt = torch.optim.Adam(tm.parameters(), lr=0.01)
    topt.load_state_dict(ck["optim"])
    _step(m, opt, fastgrad.tensor(x))
    _step(tm, topt, torch.tensor(x))
    for (k, v), tv in zip(m.state_dict().items(), tm.state_dict().values()):
        np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    # torch -> fastgrad
    _step(tm, topt, torch.tensor(x))
    torch.save({"model": tm.state_dict(), "optim": topt.state_dict()}, tmp_path / "t.pt")
    ck = fastgrad.load(tmp_path / "t.pt")
    m2 = _mlp()
    m2.load_state_dict(ck["model"])
    opt2 = fastgrad.optim.Adam(m2.parameters(), lr=0.01)
    opt2.load_state_dict(ck["optim"])
    _step(m2, opt2, fastgrad.tensor(x))
    _step(tm, topt, torch.tensor(x))
    for (k, v), tv in zip(m2.state_dict().items(), tm.state_dict().values()):
        np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


def test_torch_layouts_and_dtypes(backend, tmp_path) -> None:
    torch = torch_or_skip()
    a = torch.arange(12.0).reshape(3, 4)
    obj = {"a": a, "t": a.t(), "s": a[1:, 2:], "d": torch.ones(2, dtype=torch.float64),
           "l": torch.tensor([1, 2]), "b": torch.tensor([True]), "p": torch.nn.Parameter(a[0]),
           "size": a.shape, "e": torch.zeros(0, 3)}
    torch.save(obj, tmp_path / "t.pt")
    r = fastgrad.load(tmp_path / "t.pt")
    for k in ("a", "t", "s", "d", "l", "b", "p", "e"):
        np.testing.assert_array_equal(r[k].detach().numpy(), obj[k].detach().numpy(), err_msg=k)
        assert str(r[k].dtype).split(".")[-1] == str(obj[k].dtype).split(".")[-1]
    assert isinstance(r["p"], fastgrad.nn.Parameter) and r["size"] == (3, 4)
    r["a"][2, 3] = -1.0
    assert r["t"][3, 2].item() == -1.0 and r["s"][1, 1].item() == -1.0
    torch.save({"h": torch.ones(2, dtype=torch.float16)}, tmp_path / "h.pt")
    with pytest.raises(TypeError, match="float16"):
        fastgrad.load(tmp_path / "h.pt")


def test_safetensors_both_ways(backend, tmp_path) -> None:
    torch_or_skip()
    st = pytest.importorskip("safetensors.torch")
    m = _mlp()
    sd = m.state_dict()
    sd["count"] = fastgrad.tensor([3, 4])
    sd["mask"] = fastgrad.tensor([True, False])
    fastgrad.save(sd, tmp_path / "m.safetensors")
    t = st.load_file(str(tmp_path / "m.safetensors"))
    assert set(t) == set(sd)
    for k in sd:
        np.testing.assert_array_equal(t[k].numpy(), sd[k].detach().numpy(), err_msg=k)
    st.save_file(t, str(tmp_path / "t.safetensors"))
    r = fastgrad.load(tmp_path / "t.safetensors")
    for k in sd:
        assert r[k].dtype == sd[k].dtype
        np.testing.assert_array_equal(r[k].numpy(), sd[k].detach().numpy(), err_msg=k)


def test_safetensors_without_package(backend, tmp_path) -> None:
    sd = {"w": fastgrad.tensor([[1.0, 2.0]]), "i": fastgrad.tensor([7])}
    fastgrad.save(sd, tmp_path / "x.safetensors")
    raw = (tmp_path / "x.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and (8 + n) % 8 == 0
    r = fastgrad.load(tmp_path / "x.safetensors")
    assert r["w"].tolist() == [[1.0, 2.0]] and r["i"].tolist() == [7]
    bad = bytearray(raw)
    bad[8 + n - 40: 8 + n] = b" " * 40  # damaged header
    (tmp_path / "bad.safetensors").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="damaged"):
        fastgrad.load(tmp_path / "bad.safetensors")


def test_dlpack_numpy(backend) -> None:
    t = fastgrad.tensor([1.0, 2.0, 3.0])
    assert t.__dlpack_device__() == (1, 0)
    a = np.from_dlpack(t)
    a[0] = 10.0
    assert t.tolist() == [10.0, 2.0, 3.0]
    t[1] = 20.0
    assert a.tolist() == [10.0, 20.0, 3.0]
    n = np.arange(4)
    f = fastgrad.from_dlpack(n)
    n[3] = 9
    assert f.dtype == fastgrad.int64 and f.tolist() == [0, 1, 2, 9]
    f[0] = -1
    assert n[0] == -1
    with pytest.raises(RuntimeError, match="requires grad"):
        np.from_dlpack(fastgrad.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="__dlpack__"):
        fastgrad.from_dlpack([1, 2])


def test_dlpack_torch(backend) -> None:
    torch = torch_or_skip()
    t = fastgrad.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=fastgrad.float64)
    tt = torch.from_dlpack(t)
    tt[0, 0] = 10.0
    assert t[0, 0].item() == 10.0
    t[1, 1] = 40.0
    assert tt[1, 1].item() == 40.0
    x = torch.arange(4.0)
    f = fastgrad.from_dlpack(x)
    x[0] = 7.0
    f[1] = 9.0
    assert f.tolist() == [7.0, 9.0, 2.0, 3.0] and x.tolist() == [7.0, 9.0, 2.0, 3.0]
    g = fastgrad.utils.dlpack.from_dlpack(torch.utils.dlpack.to_dlpack(x))
    x[3] = -1.0
    assert g[3].item() == -1.0
    b = torch.utils.dlpack.from_dlpack(fastgrad.utils.dlpack.to_dlpack(t))
    assert b.dtype == torch.float64 and b[0, 0].item() == 10.0
    assert torch.from_dlpack(fastgrad.tensor([True, False])).tolist() == [True, False]
    with pytest.raises(RuntimeError, match="requires grad"):
        torch.from_dlpack(fastgrad.ones(2, requires_grad=True))


def test_whole_module_round_trip_with_safe_globals(backend: str, tmp_path: os.PathLike) -> None:
    """torch.save(model, f) / torch.load(f) inside safe_globals, as pytorch/examples' word
    language model does: the classes must be allowed by name, by torch.nn.modules' paths."""
    import pickle

    nn = fastgrad.nn
    fastgrad.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = tmp_path / "model.bin"
    with open(path, "wb") as fh:  # a file object gets PyTorch's format, as torch.save writes
        fastgrad.save(m, fh)
    with pytest.raises(pickle.UnpicklingError, match="Sequential"):
        fastgrad.load(path)
    allowed = [nn.modules.container.Sequential, nn.modules.linear.Linear,
               nn.modules.activation.ReLU]
    with fastgrad.serialization.safe_globals(allowed), open(path, "rb") as fh:
        m2 = fastgrad.load(fh)
    assert fastgrad.serialization.get_safe_globals() == []
    assert type(m2) is nn.Sequential and type(m2[0]) is nn.Linear
    x = fastgrad.randn(5, 3)
    np.testing.assert_array_equal(m2(x).detach().numpy(), m(x).detach().numpy())
    for (k, a), (k2, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    fastgrad.serialization.add_safe_globals(allowed)
    try:
        assert type(fastgrad.load(path)) is nn.Sequential
    finally:
        fastgrad.serialization.clear_safe_globals()
