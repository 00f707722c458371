"""``fastgrad.Generator``: a seedable random-number generator object, as ``torch.Generator``.

A thin wrapper over a NumPy PCG64 generator, used where PyTorch takes ``generator=`` (samplers,
``random_split``, ``DataLoader``). It is not the global generator behind ``manual_seed`` and it
does not reproduce PyTorch's random streams (the same seed gives other numbers than PyTorch's).
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

_DEFAULT_SEED = 67280421310721  # torch.Generator().initial_seed()
_U64 = 0xFFFF_FFFF_FFFF_FFFF
_STATE_WORDS = 7  # state (2 words), inc (2), has_uint32, uinteger, initial seed


def _check_seed(seed: Any) -> int:
    s = int(seed)
    if not -0x8000_0000_0000_0000 <= s <= _U64:
        raise RuntimeError(f"Generator.manual_seed: seed must be within [-2**63, 2**64 - 1], got {s}")
    return s & _U64  # a negative seed counts as its two's complement, as in PyTorch


class Generator:
    """A random-number generator with its own state (NumPy PCG64).

    Example::

        g = fastgrad.Generator().manual_seed(0)
        loader = DataLoader(ds, shuffle=True, generator=g)   # reproducible order
    """

    def __init__(self, device: Any = "cpu") -> None:
        if str(device) != "cpu":
            raise RuntimeError(f"Generator: fastgrad runs on CPUs only, got device {device!r}")
        self.device = "cpu"
        self._seed = _DEFAULT_SEED
        self._np = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed: int) -> Generator:
        """Seeds the generator; returns it (``g = Generator().manual_seed(0)``)."""
        self._seed = _check_seed(seed)
        self._np = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Seeds the generator from the operating system's entropy; returns the seed."""
        s = secrets.randbits(63)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed last given to ``manual_seed`` (or ``seed``)."""
        return self._seed

    def get_state(self) -> Any:
        """The generator's state as an int64 tensor of 7 words, for ``set_state``."""
        from fastgrad._creation import tensor

        st = self._np.bit_generator.state
        words = [st["state"]["state"] >> 64, st["state"]["state"] & _U64,
                 st["state"]["inc"] >> 64, st["state"]["inc"] & _U64,
                 st["has_uint32"], st["uinteger"], self._seed]
        return tensor(np.array(words, dtype=np.uint64).view(np.int64))

    def set_state(self, new_state: Any) -> Generator:
        """Restores a state from ``get_state``; returns the generator."""
        a = np.asarray(new_state)
        if a.shape != (_STATE_WORDS,) or a.dtype != np.int64:
            raise RuntimeError(
                f"Generator.set_state: expected an int64 tensor of shape ({_STATE_WORDS},) from "
                f"get_state, got {a.dtype} of shape {a.shape}"
            )
        w = [int(v) for v in a.view(np.uint64)]
        bg = np.random.PCG64()
        bg.state = {"bit_generator": "PCG64",
                    "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]},
                    "has_uint32": w[4], "uinteger": w[5]}
        self._np = np.random.Generator(bg)
        self._seed = w[6]
        return self

    def __repr__(self) -> str:
        return f"<fastgrad.Generator(initial_seed={self._seed})>"
