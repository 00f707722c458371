"""fastgrad-run / python -m fastgrad.run (issue 14 item 8): an unmodified PyTorch script runs on
fastgrad (torch imports resolved to fastgrad, argv, __main__, exit code), and modules fastgrad
lacks are clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import fastgrad

HERE = Path(__file__).parent
SCRIPT = HERE / "torch_scripts" / "mlp_train.py"


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    pkg = str(Path(fastgrad.__file__).parent.parent)  # the folder that holds this fastgrad
    env["PYTHONPATH"] = pkg + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([sys.executable, "-m", "fastgrad.run", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120, check=False)


def test_pytorch_script_trains_unmodified() -> None:
    r = _run(str(SCRIPT), "--epochs", "25", "--exit-code", "3")
    assert r.returncode == 3, r.stderr
    losses = [float(line.split()[-1]) for line in r.stdout.splitlines()
              if line.startswith("epoch")]
    assert len(losses) == 25
    assert losses[-1] < 0.5 * losses[0]
    assert "argv --epochs 25 --exit-code 3" in r.stdout
    assert "torch is fastgrad fastgrad.nn fastgrad.nn.functional fastgrad.optim" in r.stdout


def test_missing_modules_are_clear_errors(tmp_path: Path) -> None:
    script = tmp_path / "uses_missing.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        import torch
        for name in ("torch.no_such_module", "torchvision", "torch.nn.no_such"):
            try:
                __import__(name)
            except ModuleNotFoundError as e:
                print("ERR", e.name, "|", e)
        print("main", __name__, sys.argv[1:], sys.path[0] == {str(tmp_path)!r})
        import torch.fancy_missing
    """))
    r = _run(str(script), "a", "b", cwd=HERE)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ERR torch.no_such_module | No module named 'torch.no_such_module'")
    assert "which has no module 'fastgrad.no_such_module'" in lines[0]
    assert lines[1].startswith("ERR torchvision | ") and "does not provide torchvision" in lines[1]
    assert lines[2].startswith("ERR torch.nn.no_such |")
    assert lines[3] == "main __main__ ['a', 'b'] True"
    assert "ModuleNotFoundError: No module named 'torch.fancy_missing'" in r.stderr


def test_spawned_children_see_fastgrad(tmp_path: Path) -> None:
    script = tmp_path / "spawn.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing as mp
        import torch

        def name(_):
            import torch.nn
            return torch.__name__ + " " + torch.nn.__name__

        if __name__ == "__main__":
            with mp.get_context("spawn").Pool(1) as pool:
                print(pool.map(name, [0])[0])
    """))
    r = _run(str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "fastgrad fastgrad.nn"


def test_usage_and_module_mode(tmp_path: Path) -> None:
    r = _run()
    assert r.returncode == 2 and "usage: fastgrad-run" in r.stderr
    (tmp_path / "mymod.py").write_text("import sys, torch\nprint(torch.__name__, sys.argv[1:])\n")
    r = _run("-m", "mymod", "x", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "fastgrad ['x']"
    r = _run(str(tmp_path / "nope.py"))
    assert r.returncode == 2 and "can't open file" in r.stderr
