"""The op table: one row per public op, data only. Both backends implement the primitives these
rows use, and the test suite iterates over the rows (forward vs NumPy, float64 gradients vs
finite differences, C++ vs Python parity, PyTorch when installed).

``domain`` says where inputs are drawn: "real" (normal), "positive" (0.5..2), "away" (|x| in
0.2..1.5, away from kinks), "unit" (-0.9..0.9). ``shapes`` holds one tuple of input shapes per case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OpSpec:
    name: str
    shapes: tuple[tuple[tuple[int, ...], ...], ...]
    domain: str = "real"
    differentiable: bool = True
    kwargs: dict[str, Any] = field(default_factory=dict)


U = (((5,),), ((3, 4),), ((),))                       # unary cases
B = (((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3)))  # broadcasting

OP_TABLE: tuple[OpSpec, ...] = (
    OpSpec("neg", U), OpSpec("exp", U), OpSpec("log", U, "positive"),
    OpSpec("sqrt", U, "positive"), OpSpec("abs", U, "away"), OpSpec("sin", U), OpSpec("cos", U),
    OpSpec("tanh", U), OpSpec("sigmoid", U), OpSpec("relu", U, "away"),
    OpSpec("add", B), OpSpec("sub", B), OpSpec("mul", B), OpSpec("div", B, "positive"),
    OpSpec("pow", B, "positive"), OpSpec("maximum", B, "away"), OpSpec("minimum", B, "away"),
    OpSpec("where", (((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), (4,)))),
    OpSpec("clamp", U, "away", kwargs={"min": -0.5, "max": 0.7}),
    OpSpec("add_scalar", U), OpSpec("rsub_scalar", U), OpSpec("mul_scalar", U),
    OpSpec("rdiv_scalar", U, "positive"), OpSpec("pow_scalar", U, "positive"),
    OpSpec("sum", (((3, 4),), ((2, 3, 4),), ((),)), kwargs={"dim": None}),
    OpSpec("sum", (((3, 4),), ((2, 3, 4),)), kwargs={"dim": 1}),
    OpSpec("sum", (((2, 3, 4),),), kwargs={"dim": (0, 2), "keepdim": True}),
    OpSpec("mean", (((3, 4),), ((2, 3, 4),)), kwargs={"dim": -1}),
    OpSpec("mean", (((3, 4),),), kwargs={"dim": None}),
    OpSpec("var", (((3, 4),), ((2, 3, 4),)), kwargs={"dim": 1}),
    OpSpec("std", (((3, 4),),), kwargs={"dim": None}),
    OpSpec("max", (((3, 4),), ((7,),))), OpSpec("min", (((3, 4),),)),
    OpSpec("max_dim", (((3, 4),), ((2, 3, 4),)), kwargs={"dim": 1}),
    OpSpec("amax", (((2, 3, 4),),), kwargs={"dim": (0, 2)}),
    OpSpec("logsumexp", (((3, 4),), ((2, 3, 4),)), kwargs={"dim": -1}),
    OpSpec("softmax", (((3, 4),), ((2, 3, 4),)), kwargs={"dim": -1}),
    OpSpec("softmax", (((3, 4),),), kwargs={"dim": 0}),
    OpSpec("log_softmax", (((3, 4),), ((2, 3, 4),)), kwargs={"dim": -1}),
    OpSpec("argmax", (((3, 4),),), differentiable=False, kwargs={"dim": 1}),
    OpSpec("lt", B, differentiable=False), OpSpec("ge", B, differentiable=False),
    OpSpec("eq", B, differentiable=False),
    OpSpec("reshape", (((3, 4),), ((2, 3, 4),)), kwargs={"shape": (-1, 2)}),
    OpSpec("transpose", (((3, 4),), ((2, 3, 4),)), kwargs={"dims": (0, -1)}),
    OpSpec("permute", (((2, 3, 4),),), kwargs={"dims": (2, 0, 1)}),
    OpSpec("expand", (((3, 1),),), kwargs={"shape": (2, 3, 5)}),
    OpSpec("squeeze_unsqueeze", (((3, 1, 4),),)),
    OpSpec("flatten", (((2, 3, 4),),)),
    OpSpec("getitem_basic", (((4, 5, 6),),)),
    OpSpec("getitem_advanced", (((4, 5),),)),
    OpSpec("getitem_mask", (((4, 5),),)),
    OpSpec("cat", (((2, 3), (4, 3)),), kwargs={"dim": 0}),
    OpSpec("stack", (((2, 3), (2, 3)),), kwargs={"dim": 1}),
    OpSpec("split", (((7, 3),),)),
    OpSpec("matmul", (((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)),
                      ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,)))),
    OpSpec("to_float32", U),
)
