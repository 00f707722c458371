"""fastgrad.save / fastgrad.load on both backends: tensors and state dicts round trip bit for bit
with their dtypes, nested containers and optimizer state survive, the file is a plain .npz, and
loading never unpickles."""

from __future__ import annotations

import io
from collections import OrderedDict
from pathlib import Path

import fastgrad
import numpy as np
import pytest
from fastgrad import _backend, nn, optim


def _bits(t: fastgrad.Tensor) -> bytes:
    return np.ascontiguousarray(np.asarray(t.detach())).tobytes()


def test_tensors_round_trip_bit_for_bit(backend: str, tmp_path: Path) -> None:
    special = np.array([np.nan, -np.inf, np.inf, -0.0, 1e-45, 3.4e38], dtype=np.float32)
    obj = {
        "f32": fastgrad.tensor(special),
        "f64": fastgrad.randn(3, 4, dtype=fastgrad.float64),
        "i64": fastgrad.tensor([-(2**62), 0, 2**62]),
        "bool": fastgrad.tensor([[True, False], [False, True]]),
        "scalar": fastgrad.tensor(2.5),
        "view": fastgrad.arange(12).reshape(3, 4).T,  # non-contiguous: saved in logical order
    }
    path = tmp_path / "t.npz"
    fastgrad.save(obj, path)
    back = fastgrad.load(path)
    assert list(back) == list(obj)
    for k, v in obj.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        assert _bits(back[k]) == _bits(v), k
    single = tmp_path / "one.npz"
    fastgrad.save(obj["f64"], single)
    assert _bits(fastgrad.load(single)) == _bits(obj["f64"])


def test_state_dict_round_trip(backend: str, tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))
    path = tmp_path / "model.npz"
    fastgrad.save(model.state_dict(), path)
    sd = fastgrad.load(path)
    assert isinstance(sd, OrderedDict) and list(sd) == list(model.state_dict())
    fresh = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))
    fresh.load_state_dict(sd)
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert _bits(a) == _bits(b), k
    # the file is a plain .npz: NumPy reads it without pickle, members named after the keys
    with np.load(path, allow_pickle=False) as z:
        assert {"0.weight", "0.bias", "2.weight", "2.bias"} <= set(z.files)
        np.testing.assert_array_equal(z["2.bias"], model[2].bias.detach().numpy())


def test_written_at_the_given_path_and_to_file_objects(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    fastgrad.save({"w": fastgrad.ones(2)}, str(path))
    assert path.exists() and not (tmp_path / "weights.bin.npz").exists()
    buf = io.BytesIO()
    fastgrad.save([fastgrad.ones(2), 3], buf)
    buf.seek(0)
    back = fastgrad.load(buf)
    assert back[0].tolist() == [1.0, 1.0] and back[1] == 3


def test_nested_python_values(backend: str, tmp_path: Path) -> None:
    obj = {
        "epoch": 7, "lr": 0.1, "name": "mlp", "none": None, "flag": True,
        "nan": float("nan"), "inf": float("-inf"), "big": 2**70,
        "betas": (0.9, 0.999), "layers": [64, 128, 10], 3: "int key", (1, 2): "tuple key",
        "od": OrderedDict([("b", 1), ("a", 2)]),
        "arr": np.arange(4, dtype=np.int64), "np_scalar": np.float32(1.5),
        "deep": {"x": [{"t": fastgrad.zeros(2)}]},
    }
    path = tmp_path / "obj.npz"
    fastgrad.save(obj, path)
    back = fastgrad.load(path)
    assert back["epoch"] == 7 and type(back["epoch"]) is int
    assert back["lr"] == 0.1 and back["name"] == "mlp" and back["none"] is None
    assert back["flag"] is True and np.isnan(back["nan"]) and back["inf"] == float("-inf")
    assert back["big"] == 2**70
    assert back["betas"] == (0.9, 0.999) and back["layers"] == [64, 128, 10]
    assert back[3] == "int key" and back[(1, 2)] == "tuple key"
    assert isinstance(back["od"], OrderedDict) and list(back["od"]) == ["b", "a"]
    assert isinstance(back["arr"], np.ndarray) and back["arr"].tolist() == [0, 1, 2, 3]
    assert back["np_scalar"] == np.float32(1.5) and back["np_scalar"].dtype == np.float32
    assert back["deep"]["x"][0]["t"].tolist() == [0.0, 0.0]


def test_parameters_and_requires_grad_survive(backend: str, tmp_path: Path) -> None:
    p = nn.Parameter(fastgrad.randn(3))
    t = fastgrad.randn(2, dtype=fastgrad.float64, requires_grad=True)
    fastgrad.save({"p": p, "t": t}, tmp_path / "p.npz")
    back = fastgrad.load(tmp_path / "p.npz")
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert back["t"].requires_grad and back["t"].is_leaf


def test_optimizer_state_round_trip(backend: str, tmp_path: Path) -> None:
    x = fastgrad.randn(8, 4)
    y = fastgrad.tensor([0, 1, 2, 0, 1, 2, 0, 1])

    def step(m: nn.Module, o: optim.Optimizer) -> None:
        o.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        o.step()

    a = nn.Linear(4, 3)
    oa = optim.Adam(a.parameters(), lr=0.01, amsgrad=True)
    for _ in range(2):
        step(a, oa)
    fastgrad.save({"model": a.state_dict(), "optim": oa.state_dict()}, tmp_path / "ckpt.npz")
    ckpt = fastgrad.load(tmp_path / "ckpt.npz")
    b = nn.Linear(4, 3)
    ob = optim.Adam(b.parameters(), lr=0.5)
    b.load_state_dict(ckpt["model"])
    ob.load_state_dict(ckpt["optim"])
    assert ob.param_groups[0]["lr"] == 0.01 and ob.param_groups[0]["betas"] == (0.9, 0.999)
    saved = oa.state_dict()["state"]
    loaded = ob.state_dict()["state"]
    for i in saved:
        assert loaded[i]["step"] == saved[i]["step"] == 2
        for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert _bits(loaded[i][k]) == _bits(saved[i][k])
    for _ in range(2):
        step(a, oa)
        step(b, ob)
    assert _bits(a.weight) == _bits(b.weight)


def test_across_backends(backend: str, tmp_path: Path) -> None:
    other = "python" if backend == "cpp" else "cpp"
    if other not in _backend.available():
        pytest.skip(f"the C++ backend did not import: {_backend._core_error}")
    t = fastgrad.randn(4, 4)
    fastgrad.save(t, tmp_path / "t.npz")
    fastgrad.set_backend(other)
    try:
        back = fastgrad.load(tmp_path / "t.npz")
        assert back._b is _backend._BACKENDS[other]
    finally:
        fastgrad.set_backend(backend)
    assert _bits(back) == _bits(t)


def test_plain_npz_loads_as_dict(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.ones((2, 2), np.float32), n=np.arange(3))
    back = fastgrad.load(path)
    assert back["w"].dtype == fastgrad.float32 and back["n"].tolist() == [0, 1, 2]


class _Evil:
    ran = False

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_Evil._run, ())

    @staticmethod
    def _run() -> None:
        _Evil.ran = True


def test_loading_never_unpickles(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, __fastgrad__=np.frombuffer(b'{"format": "fastgrad.save", "version": 1, '
                                              b'"root": {"__tensor__": "x"}}', np.uint8),
             x=np.array([_Evil()], dtype=object))
    with pytest.raises(ValueError):
        fastgrad.load(path)
    assert not _Evil.ran


def test_save_errors_and_damaged_files(backend: str, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot save an object of type object at a.0"):
        fastgrad.save({"a": [object()]}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="dict keys"):
        fastgrad.save({frozenset(): 1}, tmp_path / "x.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="fastgrad.load"):
        fastgrad.load(bad)
    with pytest.raises(FileNotFoundError):
        fastgrad.load(tmp_path / "missing.npz")
    other = tmp_path / "other.npz"
    np.savez(other, __fastgrad__=np.frombuffer(b'{"format": "something else"}', np.uint8))
    with pytest.raises(ValueError, match="not written by fastgrad.save"):
        fastgrad.load(other)
