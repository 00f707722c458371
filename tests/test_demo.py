"""``python -m fastgrad.demo`` runs end to end (one epoch, in a subprocess), writes its plot, and
says how to install what it needs when scikit-learn or tqdm is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fastgrad
import pytest
from fastgrad import _backend


def _env() -> dict[str, str]:
    env = dict(os.environ)
    pkg_parent = str(Path(fastgrad.__file__).parent.parent)  # the fastgrad under test
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("FASTGRAD_BACKEND", None)
    return env


def test_demo_one_epoch(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    pytest.importorskip("tqdm", reason="tqdm is not installed")
    backend = "cpp" if "cpp" in _backend.available() else "python"
    cmd = [sys.executable, "-m", "fastgrad.demo", "--epochs", "1", "--backend", backend,
           "--threads", "1"]
    plot = tmp_path / "curve.png"
    try:
        import matplotlib  # noqa: F401

        cmd += ["--plot", str(plot)]
    except ImportError:
        plot = None  # type: ignore[assignment]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"fastgrad ({backend}): test accuracy" in out and "ms/step" in out
    assert "NumPy hand-written forward/backward: test accuracy" in out
    assert "speed ratio" in out
    acc = float(out.split(f"fastgrad ({backend}): test accuracy ")[1].split("%")[0])
    assert acc > 80.0  # one epoch already classifies most digits
    if plot is not None:
        assert plot.exists() and plot.stat().st_size > 0


def test_demo_python_backend_quick(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    pytest.importorskip("tqdm", reason="tqdm is not installed")
    cmd = [sys.executable, "-m", "fastgrad.demo", "--epochs", "1", "--backend", "python",
           "--hidden", "16", "--batch-size", "256", "--no-reference"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert "fastgrad (python): test accuracy" in r.stdout


def test_demo_cnn_two_epochs() -> None:
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    pytest.importorskip("tqdm", reason="tqdm is not installed")
    backend = "cpp" if "cpp" in _backend.available() else "python"
    cmd = [sys.executable, "-m", "fastgrad.demo", "--model", "cnn", "--epochs", "2",
           "--backend", backend, "--threads", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert "CNN conv 1-16-32" in r.stdout
    acc = float(r.stdout.split(f"fastgrad ({backend}): test accuracy ")[1].split("%")[0])
    assert acc > 80.0


@pytest.mark.parametrize("missing", ["sklearn", "tqdm"])
def test_demo_missing_dependency_message(missing: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from fastgrad import demo

    monkeypatch.setitem(sys.modules, missing, None)  # makes `import missing` raise ImportError
    assert demo.main(["--epochs", "1"]) == 1
    assert 'pip install "fastgrad[demo]"' in capsys.readouterr().err


def test_demo_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    from fastgrad import demo

    with pytest.raises(SystemExit):
        demo.main(["--epochs", "0"])
    assert "--epochs must be at least 1" in capsys.readouterr().err
