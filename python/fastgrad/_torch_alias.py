"""The import hook behind ``fastgrad-run``: ``torch`` and every ``torch.X.Y`` import resolve to
``fastgrad`` / ``fastgrad.X.Y`` (the same module objects). A torch module fastgrad lacks, and the
torch-only libraries (torchvision, torchaudio, torchtext), are clear ModuleNotFoundErrors. It maps
names only: it makes no attribute fastgrad lacks appear.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
from types import ModuleType
from typing import Any

_UNMAPPED = ("torchvision", "torchaudio", "torchtext", "torchdata")
SHIM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_torch_shim")


class _AliasLoader(importlib.abc.Loader):
    """Hands out an already imported fastgrad module under its torch name."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self.module

    def exec_module(self, module: ModuleType) -> None:
        return None


class TorchToFastgrad(importlib.abc.MetaPathFinder):
    """A meta-path finder mapping ``torch[.X...]`` to ``fastgrad[.X...]``."""

    fastgrad_torch_alias = True  # how install() recognises an instance from another copy

    def find_spec(self, fullname: str, path: Any = None,
                  target: Any = None) -> importlib.machinery.ModuleSpec | None:
        top = fullname.partition(".")[0]
        if top in _UNMAPPED:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: fastgrad-run resolves torch to fastgrad but does "
                f"not provide {top} (a library built on PyTorch itself); replace its datasets and "
                "transforms with in-memory data (fastgrad.utils.data)", name=fullname)
        if top != "torch":
            return None
        mapped = "fastgrad" + fullname[len("torch"):]
        try:
            module = importlib.import_module(mapped)
        except ModuleNotFoundError as e:
            if e.name is not None and (mapped == e.name or mapped.startswith(e.name + ".")):
                raise ModuleNotFoundError(
                    f"No module named {fullname!r}: fastgrad-run resolves torch to fastgrad, "
                    f"which has no module {mapped!r} (fastgrad does not implement {fullname})",
                    name=fullname) from None
            raise
        is_pkg = hasattr(module, "__path__")
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(module), is_package=is_pkg)


def install() -> None:
    """Puts the torch -> fastgrad finder first on ``sys.meta_path`` (once), and the torch shim
    folder on ``sys.path`` so that processes started with "spawn" or "forkserver" (which rebuild
    sys.path from this one and re-import the script) resolve ``import torch`` to fastgrad too."""
    if not any(getattr(f, "fastgrad_torch_alias", False) for f in sys.meta_path):
        sys.meta_path.insert(0, TorchToFastgrad())
    if SHIM_DIR not in sys.path:
        sys.path.insert(1 if sys.path else 0, SHIM_DIR)
