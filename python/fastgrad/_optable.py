"""The op table, data only, no imports from fastgrad: it is read by the build too.

``PRIMITIVES`` holds one row per backend primitive (the functions of the backend contract in
``_backend.py``). It drives, for both backends:
- C++: the build turns it into ``generated/op_list.inc`` (``tools/gen_op_list.py``): an X-macro list
  that declares every ``unary`` and ``binary`` primitive in ``cpp/autograd/ops.h`` and binds it in
  ``cpp/bindings/``; ``custom`` rows (other signatures) are declared and bound by hand, beside
  their family.
- Python: ``reference/__init__.py`` exports each row from ``reference/ops_<family>.py``;
  ``tensor.py`` makes a Tensor method for rows with ``method=True`` and ``_ops.py`` a module
  function ``fastgrad.<name>`` for rows with ``function=True``.
- Tests: ``tests/test_op_coverage.py`` fails when the table, ``_core`` and the reference backend
  disagree.

``OP_TABLE`` holds the test cases the suite iterates (forward vs NumPy, float64 gradients vs finite
differences, C++ vs Python parity, PyTorch when installed); a case names a primitive or a
composite of the Tensor API (``tests/test_ops.py`` maps names to calls).

``domain`` says where inputs are drawn: "real" (normal), "positive" (0.5..2), "away" (|x| in
0.2..1.5, away from kinks), "unit" (-0.9..0.9). ``shapes`` holds one tuple of input shapes per case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Primitive:
    """One backend primitive.

    ``family``: its files, ``cpp/autograd/ops_<family>.cpp`` and ``reference/ops_<family>.py``.
    ``kind``: ``"unary"`` (``Tensor f(const Tensor& x)``), ``"binary"`` (``Tensor f(const Tensor& a,
    const Tensor& b)``): declared and bound from this table; ``"custom"``: any other signature,
    declared in ``ops.h`` and bound in ``bindings/`` by hand.
    ``floating``: a generated method casts integer and bool inputs to float32 first (``exp``).
    ``method`` / ``function``: generate ``Tensor.<name>()`` / ``fastgrad.<name>(x)`` (unary only).
    """

    name: str
    family: str
    kind: str = "custom"
    differentiable: bool = True
    floating: bool = False
    method: bool = False
    function: bool = False


def _unary(names: str, **kw: Any) -> tuple[Primitive, ...]:
    return tuple(Primitive(n, "elementwise", "unary", **kw) for n in names.split())


def _binary(names: str, family: str = "elementwise", **kw: Any) -> tuple[Primitive, ...]:
    return tuple(Primitive(n, family, "binary", **kw) for n in names.split())


def _custom(names: str, family: str, **kw: Any) -> tuple[Primitive, ...]:
    return tuple(Primitive(n, family, "custom", **kw) for n in names.split())


PRIMITIVES: tuple[Primitive, ...] = (
    # elementwise: creation and data, casts
    *_custom("from_numpy to_numpy scalar full clone to_dtype", "elementwise"),
    # elementwise: unary maps (a new one: a row here, its forward + rule in ops_elementwise.cpp
    # and reference/ops_elementwise.py, a case in OP_TABLE below)
    *_unary("exp log sqrt sin cos tanh sigmoid", floating=True, method=True, function=True),
    *_unary("relu", floating=True, method=True, function=True),
    *_unary("neg abs", method=True, function=True),
    *_unary("sign", differentiable=False, method=True, function=True),
    *_unary("logical_not", differentiable=False),
    *_unary("log1p expm1 erf", floating=True, method=True, function=True),
    *_unary("softplus", floating=True),
    *_unary("floor ceil round", method=True, function=True),  # zero gradient, as in PyTorch
    # elementwise: fused backward kernels g * f'(y), themselves differentiable
    *_binary("relu_backward sigmoid_backward tanh_backward"),
    # elementwise: binary maps (Tensor methods and operators promote dtypes in tensor.py)
    *_binary("add sub mul div pow maximum minimum"),
    *_binary("lt le gt ge eq ne", differentiable=False),
    *_custom("where clamp", "elementwise"),
    # reductions
    *_custom("sum amax amin softmax log_softmax sum_to cumsum", "reduce"),
    *_custom("argmax argmin", "reduce", differentiable=False),
    # shape and views
    *_custom("reshape permute expand slice slice_backward cat contiguous", "shape"),
    # indexing
    *_binary("take", "index"),
    *_custom("put_add", "index"),
    # products and losses
    *_binary("matmul", "matmul"),
    # convolution (each of the three is the others' derivative rule)
    *_custom("conv2d conv_transpose2d conv2d_weight", "conv"),
    # conv2d + bias (+ relu) with both in the GEMM's store (F.conv2d with a bias, ConvReLU2d)
    *_custom("conv2d_fused", "conv"),
    *_custom("max_pool2d", "pool"),
    # fused batch normalization, training mode (nn/_functional_conv.py batch_norm)
    *_custom("batch_norm_train", "norm"),
    *_custom("cross_entropy_rows cross_entropy_rows_backward", "loss"),
    # fused recurrent-cell gates (nn/rnn.py), forward + fused backward
    *_custom("lstm_cell gru_cell", "rnn"),
    # blocked scaled dot-product attention (nn/_functional_seq.py), forward + fused backward
    *_custom("attention", "attention"),
    # in place, no autograd (optimizers, initialisation, x[idx] = v)
    *_custom("copy_ fill_ put_ set_data_", "inplace", differentiable=False),
    *_custom("sgd_step_ adam_step_", "optim", differentiable=False),
    *_custom("rmsprop_step_ adagrad_step_ adadelta_step_ adamax_step_ nadam_step_ radam_step_",
             "optim", differentiable=False),
    *_custom("foreach_norm foreach_mul_", "optim", differentiable=False),  # clip_grad_norm_
    # h1-nnfast: the nn fast paths (issue 19): x @ w^T + b as one node (F.linear), and
    # cross_entropy_rows with its reduction in one call (F.cross_entropy)
    *_custom("linear", "matmul"),
    *_custom("cross_entropy_reduced", "loss"),
)

# The rest of the backend contract: graph and runtime functions, not ops.
RUNTIME: tuple[str, ...] = (
    "detach", "rebase_history", "backward", "grad", "function_apply",
    "is_grad_enabled", "set_grad_enabled", "is_anomaly_enabled", "set_anomaly_enabled",
    "is_keep_outputs_enabled", "set_keep_outputs_enabled", "set_creation_trace_fn",
    "set_num_threads", "get_num_threads",
    "register_post_accumulate_grad_hook",  # h8-dist: DDP's gradient buckets
    "bump_version",  # h8-dist: fastgrad.distributed wrote a tensor's memory through NumPy
)


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
    OpSpec("log1p", U, "unit"), OpSpec("expm1", U), OpSpec("erf", U), OpSpec("softplus", U),
    OpSpec("floor", U), OpSpec("ceil", U), OpSpec("round", U),
    OpSpec("cumsum", (((5,),), ((3, 4),), ((2, 3, 4),)), kwargs={"dim": -1}),
    OpSpec("cumsum", (((3, 4),), ((2, 3, 4),)), kwargs={"dim": 0}),
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
    OpSpec("linear", (((3, 4), (5, 4), (5,)), ((2, 3, 4), (5, 4), (5,)), ((4,), (5, 4), (5,)))),
)
