# The pure-Python/NumPy reference backend: the same functions as the C++ extension fastgrad._core
# (see the contract in python/fastgrad/_backend.py), over RTensor handles. This file only exports:
# every primitive of the op table (python/fastgrad/_optable.py) from ops_<family>.py, and the
# graph and runtime functions (RUNTIME) from tape.py and engine.py.
from __future__ import annotations

from fastgrad._optable import PRIMITIVES, RUNTIME
from fastgrad.reference import (
    engine,
    ops_attention,
    ops_conv,
    ops_elementwise,
    ops_index,
    ops_inplace,
    ops_loss,
    ops_matmul,
    ops_norm,
    ops_optim,
    ops_pool,
    ops_reduce,
    ops_rnn,
    ops_shape,
    tape,
)

_FAMILIES = {
    "elementwise": ops_elementwise, "index": ops_index, "inplace": ops_inplace, "loss": ops_loss,
    "matmul": ops_matmul, "optim": ops_optim, "reduce": ops_reduce, "shape": ops_shape,
    "rnn": ops_rnn, "attention": ops_attention, "conv": ops_conv, "pool": ops_pool,
    "norm": ops_norm,
}
_RUNTIME_HOMES = (engine, tape)


def _export() -> list[str]:
    names = []
    for p in PRIMITIVES:
        globals()[p.name] = getattr(_FAMILIES[p.family], p.name)
        names.append(p.name)
    for name in RUNTIME:
        home = next(m for m in _RUNTIME_HOMES if hasattr(m, name))
        globals()[name] = getattr(home, name)
        names.append(name)
    return names


__all__ = _export()  # noqa: PLE0605 (built from the op table)
