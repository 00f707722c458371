"""The documentation site (mkdocs.yml: guides in docs/, API reference from the docstrings): it
builds with warnings as errors, every public name is on it, and it works in a browser (headless
Chromium renders the pages, the pictures load and the search finds names). Skips without mkdocs,
and the browser tests without Chromium (Debian's `chromium`, installed by .ci/run).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Public modules whose __all__ must be on the site (fastgrad itself: the generated page).
PUBLIC_MODULES = [
    "fastgrad", "fastgrad.nn", "fastgrad.nn.functional", "fastgrad.nn.init", "fastgrad.nn.utils",
    "fastgrad.nn.utils.rnn", "fastgrad.nn.parallel", "fastgrad.nn.intrinsic", "fastgrad.optim",
    "fastgrad.optim.lr_scheduler", "fastgrad.utils.data", "fastgrad.distributed",
    "fastgrad.linalg", "fastgrad.onnx", "fastgrad.serialization", "fastgrad.viz", "fastgrad.autograd",
    "fastgrad.autograd.functional",
]


@pytest.fixture(scope="module")
def site() -> Iterator[pathlib.Path]:
    """The site, built once for this file with `mkdocs build --strict` (about 5 s)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "site"
        r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
                            str(ROOT / "mkdocs.yml"), "-d", str(out)],
                           check=False, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        yield out


def _anchors(site: pathlib.Path) -> set[str]:
    docs = json.loads((site / "search" / "search_index.json").read_text())["docs"]
    return {d["location"].rsplit("#", 1)[1] for d in docs if "#" in d["location"]}


def test_site_builds_and_search_index_finds_names(site: pathlib.Path) -> None:
    for page in ("index.html", "getting-started/index.html", "tutorial/index.html",
                 "training/index.html", "from-pytorch/index.html", "interop/index.html",
                 "distributed/index.html", "performance/index.html", "architecture/index.html",
                 "development/index.html", "api/tensor/index.html",
                 "api/tensor_methods/index.html", "api/nn/index.html", "api/optim/index.html",
                 "api/data/index.html", "api/distributed/index.html", "api/linalg/index.html",
                 "api/nn_utils/index.html"):
        assert (site / page).stat().st_size > 1000, page
    for svg in ("tutorial_addmul.svg", "tutorial_copy.svg", "tutorial_sigmoid.svg",
                "tutorial_l2.svg", "seed3.svg"):
        assert (site / svg).read_text().lstrip().startswith(("<?xml", "<svg")), svg
    anchors = _anchors(site)
    for name in ("fastgrad.onnx.export", "fastgrad._serialization.save", "fastgrad.nn.Linear",
                 "fastgrad.nn.Conv2d", "fastgrad.nn.LSTM", "fastgrad.nn.TransformerEncoderLayer",
                 "fastgrad.nn.Embedding", "fastgrad.nn.CrossEntropyLoss",
                 "fastgrad.optim.AdamW", "fastgrad.optim.lr_scheduler.OneCycleLR",
                 "fastgrad.utils.data.DataLoader", "fastgrad.distributed.all_reduce",
                 "fastgrad.nn.parallel.DistributedDataParallel",
                 "fastgrad.nn.utils.clip_grad_norm_", "fastgrad.linalg.vector_norm",
                 "fastgrad.tensor.Tensor.backward", "fastgrad.Tensor.masked_fill",
                 "fastgrad.Tensor.exp", "fastgrad.exp"):
        assert name in anchors, name
    html = (site / "api" / "nn" / "index.html").read_text()
    assert "in_features" in html and "kernel_size" in html  # signatures are rendered


def test_every_public_name_is_on_the_site(site: pathlib.Path) -> None:
    """Each name in the __all__ of the public modules has an entry: under its public path, or
    under the module that defines it."""
    anchors = _anchors(site)
    missing = []
    for modname in PUBLIC_MODULES:
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None)
        if names is None:  # no __all__: the public functions and classes it defines
            names = [n for n, o in vars(mod).items() if not n.startswith("_")
                     and getattr(o, "__module__", None) == modname]
        for name in names:
            obj = getattr(mod, name)
            if inspect.ismodule(obj):
                continue
            paths = {f"{modname}.{name}"}
            if getattr(obj, "__module__", None) and getattr(obj, "__qualname__", None):
                paths.add(f"{obj.__module__}.{obj.__qualname__}")
            if not paths & anchors:
                missing.append(f"{modname}.{name}")
    assert not missing, f"not on the site: {missing}"


def test_generated_tensor_page_is_current() -> None:
    """docs/api/tensor_methods.md lists every Tensor method and fastgrad name (incl. those the op
    table installs at import); it must be regenerated when they change."""
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        gen = importlib.import_module("gen_api_tables")
    finally:
        sys.path.remove(str(ROOT / "docs"))
    text = gen.generate()
    assert not gen.MISSING, f"no description for {gen.MISSING}: add them to DESCRIPTIONS"
    assert (ROOT / "docs" / "api" / "tensor_methods.md").read_text() == text, (
        "docs/api/tensor_methods.md is out of date: run python docs/gen_api_tables.py")


# --- in a browser ----------------------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


@pytest.fixture(scope="module")
def browser_site(site: pathlib.Path) -> Iterator[tuple[str, str]]:
    """(chromium executable, base URL of the site served by `python -m http.server`)."""
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)),
               None)
    if exe is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        # tools/sanitize.sh preloads AddressSanitizer into every child process; Chromium does not
        # start under it, and the browser checks test no C++ of fastgrad's.
        pytest.skip("the browser checks do not run under tools/sanitize.sh's libasan preload")
    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind",
                               "127.0.0.1", "--directory", str(site)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 41234 (http://...)"
        port = int(line.split(" port ")[1].split()[0])
        yield exe, f"http://127.0.0.1:{port}/"
    finally:
        server.kill()
        server.wait()
        server.stdout.close()


@contextlib.contextmanager
def _profile() -> Iterator[str]:
    """A fresh Chromium profile folder. Removed leniently: Chromium's helper processes may still
    be writing into it for a moment after the browser has exited (seen in CI as 'Directory not
    empty' from TemporaryDirectory)."""
    path = tempfile.mkdtemp(prefix="fastgrad-chromium-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _dump_dom(exe: str, url: str) -> str:
    with _profile() as profile:
        r = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                            "--virtual-time-budget=10000", "--dump-dom", url],
                           check=False, capture_output=True, text=True, timeout=60,
                           start_new_session=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def test_pages_render_in_chromium(browser_site: tuple[str, str]) -> None:
    exe, base = browser_site
    dom = _dump_dom(exe, base + "index.html")
    assert "<h1" in dom and "Getting started" in dom and 'id="mkdocs-search-query"' in dom
    dom = _dump_dom(exe, base + "api/nn/")
    assert 'id="fastgrad.nn.Conv2d"' in dom and "in_channels" in dom
    dom = _dump_dom(exe, base + "api/tensor_methods/")
    assert 'id="fastgrad.Tensor.backward"' in dom


class _Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    JSON messages ending in NUL, commands on fd 3, replies on fd 4); no websocket library."""

    def __init__(self, exe: str, profile: str) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()

        def fds() -> None:  # runs in the child: dup2 to a new number clears close-on-exec
            a, b = os.dup(cmd_r), os.dup(out_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                      "--remote-debugging-pipe", "about:blank"],
                                     # fds() only dups descriptors (no locks, no imports)
                                     preexec_fn=fds, close_fds=False,  # noqa: PLW1509
                                     start_new_session=True,  # close() ends all its processes
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self._buf = b""
        self._id = 0

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> Any:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + 60  # a browser that stops answering fails, never hangs
        while True:
            while b"\0" not in self._buf:
                ready, _, _ = select.select([self._out_r], [], [], max(deadline - time.monotonic(),
                                                                        0))
                assert ready, f"chromium did not answer {method} within 60 s"
                chunk = os.read(self._out_r, 1 << 16)
                assert chunk, "chromium closed the DevTools pipe"
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:  # events and other replies are skipped
                assert "error" not in reply, reply["error"]
                return reply["result"]

    def open(self, url: str) -> str:
        target = self.call("Target.createTarget", {"url": url})["targetId"]
        return self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]

    def wait_for(self, session: str, expr: str, timeout: float = 20) -> Any:
        """Evaluates expr in the page until it is truthy (or the timeout); returns its value."""
        end = time.monotonic() + timeout
        while True:
            value = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True},
                              session)["result"].get("value")
            if value or time.monotonic() > end:
                return value
            time.sleep(0.1)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._out_r)


def test_search_finds_names_in_chromium(browser_site: tuple[str, str]) -> None:
    """The theme's search (lunr in a web worker) run by `?q=`. Not with --dump-dom: the worker's
    loading is outside --virtual-time-budget's clock, so the DOM is dumped before it answers;
    so the results element is polled over the DevTools protocol."""
    exe, base = browser_site
    results = ("Array.from(document.querySelectorAll('#mkdocs-search-results article a'))"
               ".map(a => a.getAttribute('href')).join(' ')")
    with _profile() as profile:
        chrome = _Chromium(exe, profile)
        try:
            found = {}
            for query in ("Conv2d", "clip_grad_norm_", "DataLoader"):
                session = chrome.open(base + "index.html?q=" + query)
                found[query] = chrome.wait_for(session, results) or ""
            # the tutorial's pictures load (an <img> with a size)
            session = chrome.open(base + "tutorial/")
            sizes = chrome.wait_for(session, "document.readyState === 'complete' && "
                                    "Array.from(document.images).filter(i => i.src.endsWith"
                                    "('.svg')).map(i => i.naturalWidth)")
        finally:
            chrome.close()
    assert "api/nn/#fastgrad.nn.Conv2d" in found["Conv2d"], found
    assert "#fastgrad.nn.utils.clip_grad_norm_" in found["clip_grad_norm_"], found
    assert "api/data/#fastgrad.utils.data.DataLoader" in found["DataLoader"], found
    assert sizes and len(sizes) == 4 and all(w > 0 for w in sizes), sizes
