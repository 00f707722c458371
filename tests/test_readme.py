"""The README's Python examples run as written (so the README stays true)."""

from __future__ import annotations

import re
from pathlib import Path

import fastgrad
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks() -> list[str]:
    if not README.exists():
        return []
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)


@pytest.mark.skipif(not README.exists(), reason="README.md is not beside the tests")
@pytest.mark.parametrize("i", range(len(blocks())))
def test_readme_example_runs(i: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    prev = fastgrad.get_backend()
    try:
        exec(compile(blocks()[i], f"README.md example {i + 1}", "exec"), {})  # noqa: S102
    finally:
        fastgrad.set_backend(prev)
    out = capsys.readouterr().out
    if i == 0:
        assert out.startswith("-12.0 tensor(-4.) tensor(-4.) tensor(3.)")
        assert "digraph" in out
    else:
        assert (tmp_path / "model.pt").exists()


@pytest.mark.skipif(not README.exists(), reason="README.md is not beside the tests")
def test_readme_has_examples() -> None:
    assert len(blocks()) >= 2
