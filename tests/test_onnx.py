"""fastgrad.onnx.export: an MLP and a model with functional ops run in onnxruntime with the same
outputs as fastgrad; an op without an ONNX entry is an error naming it. Skips without onnx or
onnxruntime.
"""

from __future__ import annotations

import io

import fastgrad
import numpy as np
import pytest

nn = fastgrad.nn
F = fastgrad.nn.functional


def _run(path_or_bytes, feeds):  # type: ignore[no-untyped-def]
    ort = pytest.importorskip("onnxruntime")
    s = ort.InferenceSession(path_or_bytes, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def test_mlp_in_onnxruntime(backend, tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Dropout(0.5),
                      nn.Linear(8, 6), nn.LeakyReLU(0.2), nn.ELU(), nn.Sigmoid(),
                      nn.Linear(6, 3), nn.LogSoftmax(dim=1))
    x = fastgrad.randn(5, 4)
    path = tmp_path / "mlp.onnx"
    fastgrad.onnx.export(m, x, path, input_names=["x"], output_names=["y"],
                         dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert [n.op_type for n in proto.graph.node] == [
        "Gemm", "Relu", "Gemm", "Tanh", "Identity", "Gemm", "LeakyRelu", "Elu", "Sigmoid", "Gemm",
        "LogSoftmax"]
    assert m.training  # the mode is restored
    m.eval()
    for xx in (x, fastgrad.randn(2, 4)):  # the batch axis is dynamic
        (y,) = _run(str(path), {"x": xx.numpy()})
        np.testing.assert_allclose(y, m(xx).detach().numpy(), rtol=1e-5, atol=1e-6)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.b = nn.Linear(4, 8)
        self.scale = fastgrad.nn.Parameter(fastgrad.ones(4) * 0.5)

    def forward(self, x, z):  # type: ignore[no-untyped-def]
        h = F.relu(F.dropout(self.a(x), 0.3, training=self.training)) * self.scale + 1.0
        h = fastgrad.cat([h, 2.0 - z], dim=1) / 3.0
        h = h.reshape(h.shape[0], 2, 4).transpose(1, 2).flatten(1)
        h = F.softplus(h, beta=2.0) - F.elu(h.permute(1, 0).t(), alpha=0.5)
        y = F.softmax(h @ fastgrad.ones(8, 4), dim=-1)
        g = F.gelu(h) if hasattr(F, "gelu") else F.leaky_relu(h, 0.1)
        k = h[:, None, 1:7:2][..., -1] + h[0] - h.sum(1, keepdim=True) + h.mean()
        return y, g ** 2 - self.b(y).tanh(), k + fastgrad.mean(h, dim=(0, 1))


def test_functional_ops_in_onnxruntime(backend) -> None:
    pytest.importorskip("onnx")
    net = _Net()
    x, z = fastgrad.randn(3, 3), fastgrad.randn(3, 4)
    for opset in (17, 18):
        buf = io.BytesIO()
        fastgrad.onnx.export(net, (x, z), buf, input_names=["x", "z"], opset_version=opset,
                             output_names=["p", "g", "k"])
        got = _run(buf.getvalue(), {"x": x.numpy(), "z": z.numpy()})
        assert net.training
        net.eval()
        for a, b in zip(got, net(x, z)):
            assert a.shape == tuple(b.shape)
            np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-5, atol=1e-6)
        net.train()


class _Cumsum(nn.Module):
    def forward(self, x):  # type: ignore[no-untyped-def]
        return nn.functional.relu(x.cumsum(1))


class _Gather(nn.Module):
    def forward(self, x):  # type: ignore[no-untyped-def]
        return x[fastgrad.tensor([1, 0])]


def test_unsupported_op_is_named(backend, tmp_path) -> None:
    pytest.importorskip("onnx")
    before = {(c, k): v for c in (fastgrad.Tensor, fastgrad.nn.Parameter)
              for k, v in c.__dict__.items()}
    with pytest.raises(fastgrad.onnx.UnsupportedOperatorError, match="Cumsum"):
        fastgrad.onnx.export(_Cumsum(), fastgrad.randn(2, 3), tmp_path / "c.onnx")
    with pytest.raises(fastgrad.onnx.UnsupportedOperatorError, match="indexing with tensors"):
        fastgrad.onnx.export(_Gather(), fastgrad.randn(2, 3), tmp_path / "g.onnx")
    after = {(c, k): v for c in (fastgrad.Tensor, fastgrad.nn.Parameter)
             for k, v in c.__dict__.items()}
    assert after == before  # the tracing patches are undone, even after an error
    assert F.relu.__name__ == "relu" and fastgrad.cat.__name__ == "cat"
    with pytest.raises(ValueError, match="opset_version"):
        fastgrad.onnx.export(_Cumsum(), fastgrad.randn(2, 3), tmp_path / "c.onnx",
                             opset_version=11)


def test_cnn_in_onnxruntime(backend, tmp_path) -> None:
    """The CNN layers: Conv (padding, stride, groups), BatchNorm (eval statistics), pools."""
    onnx = pytest.importorskip("onnx")
    fastgrad.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, stride=2, padding="valid", groups=2),
                      nn.AvgPool2d(2, ceil_mode=True), nn.Dropout2d(0.2), nn.Conv2d(8, 6, 1),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))
    x = fastgrad.randn(5, 1, 12, 12)
    m(x)  # one training step's statistics into the running averages
    path = tmp_path / "cnn.onnx"
    fastgrad.onnx.export(m, x, path, input_names=["x"], output_names=["y"],
                         dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    ops = [n.op_type for n in proto.graph.node]
    assert ops[:4] == ["Conv", "BatchNormalization", "Relu", "MaxPool"]
    assert "GlobalAveragePool" in ops and "AveragePool" in ops
    m.eval()
    for xx in (x, fastgrad.randn(2, 1, 12, 12)):
        (y,) = _run(str(path), {"x": xx.numpy()})
        np.testing.assert_allclose(y, m(xx).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_conv1d_same_padding_and_unsupported_mode(tmp_path) -> None:
    pytest.importorskip("onnx")
    m = nn.Sequential(nn.Conv1d(2, 3, 4, padding="same"), nn.MaxPool1d(2))
    x = fastgrad.randn(3, 2, 9)
    fastgrad.onnx.export(m, x, tmp_path / "c1.onnx")
    (y,) = _run(str(tmp_path / "c1.onnx"), {next(iter(_input_names(tmp_path / "c1.onnx"))):
                                              x.numpy()})
    np.testing.assert_allclose(y, m(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(fastgrad.onnx.UnsupportedOperatorError, match="padding_mode"):
        fastgrad.onnx.export(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"),
                             fastgrad.randn(1, 1, 5, 5), tmp_path / "r.onnx")


def _input_names(path):  # type: ignore[no-untyped-def]
    import onnx

    return [i.name for i in onnx.load(str(path)).graph.input]
