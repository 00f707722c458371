"""The documentation site (mkdocs.yml: guides in docs/, API reference from the docstrings) builds
with warnings as errors, and its search index finds public names. Skips without mkdocs.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_site_builds_and_search_finds_names(tmp_path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
                        str(ROOT / "mkdocs.yml"), "-d", str(site)],
                       check=False, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for page in ("index.html", "interop/index.html", "api/tensor/index.html",
                 "api/nn/index.html"):
        assert (site / page).stat().st_size > 1000, page
    locations = [d["location"] for d in
                 json.loads((site / "search" / "search_index.json").read_text())["docs"]]
    for name in ("fastgrad.onnx.export", "fastgrad._serialization.save",
                 "fastgrad.nn.layers.Linear", "fastgrad.tensor.Tensor.backward"):
        assert any(loc.endswith("#" + name) for loc in locations), name
    html = (site / "api" / "nn" / "index.html").read_text()
    assert "in_features" in html  # signatures are rendered
