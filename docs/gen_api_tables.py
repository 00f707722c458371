"""Writes docs/api/tensor_methods.md: every public name of ``fastgrad.Tensor`` (methods defined in
tensor.py, those installed from _tensor_ops.py and the op table, properties) and of the top-level
``fastgrad`` namespace (``fastgrad.__all__``, incl. the op table's functions), each with its
signature and one line of description. mkdocstrings reads the sources statically and cannot see
what is installed at import time, so this page is generated from the imported package.
Run: ``PYTHONPATH=<pkg> python docs/gen_api_tables.py`` (tests/test_docs_site.py checks it is current).
"""

from __future__ import annotations

import inspect
import pathlib
import re
import sys
from typing import Any

OUT = pathlib.Path(__file__).resolve().parent / "api" / "tensor_methods.md"

# One line for the names whose function carries no docstring (PyTorch's meaning in each case).
DESCRIPTIONS = {
    "dtype": "The element type: float32, float64, int64 or bool (fastgrad.dtype objects).",
    "grad": "The accumulated gradient (None until a backward reaches this leaf).",
    "T": "The tensor with its dimensions reversed (transpose of a 2-D tensor).",
    "mT": "The last two dimensions swapped (batched matrix transpose).",
    "add": "self + other (broadcasting, type promotion).", "add_": "In-place self += other.",
    "sub": "self - other.", "sub_": "In-place self -= other.",
    "mul": "self * other.", "mul_": "In-place self *= other.",
    "div": "self / other (true division).", "div_": "In-place self /= other.",
    "pow": "self ** exponent, elementwise.", "pow_": "In-place self **= exponent.",
    "all": "True where every element (along dim) is nonzero.",
    "any": "True where some element (along dim) is nonzero.",
    "amax": "Maximum along dims (gradient split evenly between ties).",
    "amin": "Minimum along dims (gradient split evenly between ties).",
    "argmax": "Index of the maximum (flattened, or along dim).",
    "argmin": "Index of the minimum (flattened, or along dim).",
    "argsort": "Indices that sort along dim.",
    "astype": "A copy converted to dtype (NumPy's spelling of .to(dtype)).",
    "bool": "A copy as bool.", "double": "A copy as float64.", "float": "A copy as float32.",
    "long": "A copy as int64.",
    "broadcast_to": "A view broadcast to shape.",
    "clamp": "Elementwise min(max(x, min), max).", "clamp_": "In-place clamp.",
    "clip": "Alias of clamp.", "clamp_min": "Elementwise max(x, min).",
    "clamp_max": "Elementwise min(x, max).",
    "clone": "A copy with its own memory; differentiable.",
    "contiguous": "self if row-major contiguous, else a contiguous copy.",
    "copy_": "Copies src's values into self (broadcast, cast); differentiable.",
    "detach": "The same memory without history (requires_grad=False).",
    "dim": "Number of dimensions.", "ndim": "Number of dimensions.",
    "dot": "Inner product of two 1-D tensors.",
    "expand": "A view with size-1 dimensions repeated to sizes (-1 keeps a size).",
    "expand_as": "expand to other's shape.",
    "fill_": "Fills self with a value, in place.", "zero_": "Fills self with zeros, in place.",
    "flatten": "Dimensions start_dim..end_dim merged into one.",
    "grad_fn": "The node that made this tensor (None for leaves).",
    "is_contiguous": "Whether the memory is row-major contiguous.",
    "is_cpu": "Always True (fastgrad runs on the CPU).", "is_cuda": "Always False.",
    "is_floating_point": "Whether the dtype is float32 or float64.",
    "is_leaf": "True for tensors not made by a recorded op (and for all that do not require grad).",
    "item": "The value of a one-element tensor as a Python number.",
    "logical_not": "Elementwise not, as bool.",
    "logsumexp": "log(sum(exp(x))) along dim, computed stably.",
    "mean": "Mean (of all elements, or along dim).", "sum": "Sum (of all elements, or along dim).",
    "std": "Standard deviation along dim (correction=1 by default).",
    "var": "Variance along dim (correction=1 by default).",
    "max": "Maximum, or (values, indices) along dim, or elementwise with another tensor.",
    "min": "Minimum, or (values, indices) along dim, or elementwise with another tensor.",
    "masked_fill_": "In-place masked_fill.",
    "new_empty": "An uninitialised tensor of the given size with self's dtype.",
    "new_full": "A tensor of size filled with fill_value, self's dtype by default.",
    "new_ones": "Ones of the given size, self's dtype by default.",
    "new_zeros": "Zeros of the given size, self's dtype by default.",
    "new_tensor": "A tensor of data, self's dtype by default.",
    "normal_": "Fills self with samples of N(mean, std**2), in place.",
    "uniform_": "Fills self with samples of U(from, to), in place.",
    "numel": "Number of elements.",
    "permute": "A view with the dimensions reordered.",
    "relu_": "In-place relu.",
    "requires_grad": "Whether operations on this tensor are recorded for backward.",
    "requires_grad_": "Sets requires_grad in place (leaves only); returns self.",
    "reshape": "The same elements in a new shape (a view when possible).",
    "reshape_as": "reshape to other's shape.",
    "retain_grad": "Keeps .grad of a non-leaf tensor after backward.",
    "retains_grad": "Whether retain_grad() was called on this non-leaf.",
    "round": "Rounds to the nearest integer (half to even), or to decimals places.",
    "scatter_": "Writes src's values at index along dim, in place.",
    "scatter_add_": "Adds src's values at index along dim, in place.",
    "shape": "The sizes, as a tuple.", "size": "The sizes, or one size with dim.",
    "squeeze": "Removes size-1 dimensions (all, or dim).",
    "unsqueeze": "A size-1 dimension inserted at dim.",
    "tolist": "The values as (nested) Python lists of numbers.",
    "transpose": "A view with dim0 and dim1 swapped.",
    "trunc": "Rounds toward zero.", "view": "A view with a new shape (memory must allow it).",
    "view_as": "view with other's shape.",
    "arange": "Values from start to end (exclusive) by step.",
    "empty": "An uninitialised tensor of the given size.", "eye": "An identity matrix.",
    "full_like": "A tensor of input's shape filled with fill_value.",
    "linspace": "steps values evenly spaced from start to end (inclusive).",
    "ones": "A tensor of ones.", "ones_like": "Ones of input's shape.",
    "zeros": "A tensor of zeros.", "zeros_like": "Zeros of input's shape.",
    "rand": "Samples of U(0, 1).", "rand_like": "U(0, 1) samples of input's shape.",
    "randn": "Samples of N(0, 1).", "randn_like": "N(0, 1) samples of input's shape.",
}


MISSING: list[str] = []


def _signature(obj: Any) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"
    sig = sig.replace("'", "").replace("_py_bool", "bool").replace("_py_float", "float")
    return re.sub(r"\bself: Tensor\b", "self", sig)


def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    para = doc.strip().split("\n\n")[0]
    return " ".join(para.split())


def _describe(name: str, obj: Any, fallback: Any = None) -> str:
    text = _first_line(obj) or (_first_line(fallback) if fallback is not None else "")
    text = text or DESCRIPTIONS.get(name, "")
    if not text:
        MISSING.append(name)
    return text


def _entry(qual: str, anchor: str, sig: str | None, text: str) -> list[str]:
    head = f"### `{qual}` {{#{anchor}}}"
    body = [f"```python\n{qual.rsplit('.', 1)[-1]}{sig}\n```"] if sig is not None else []
    return [head, "", *body, "", text, ""]


def generate() -> str:
    import fastgrad

    T = fastgrad.Tensor
    out = ["# fastgrad.Tensor methods and the fastgrad namespace", "",
           "Generated by `docs/gen_api_tables.py` from the imported package: every public method",
           "and property of `fastgrad.Tensor` (those written in tensor.py, those installed from",
           "`_tensor_ops.py` and from the op table) and every name in `fastgrad.__all__`, with its",
           "signature and one line. The [Tensor page](tensor.md) has the full docstrings of the",
           "methods written in tensor.py.", "", "## Tensor", ""]
    for name in sorted((n for n in dir(T) if not n.startswith("_")), key=str.lower):
        static = inspect.getattr_static(T, name)
        if isinstance(static, property):
            out += _entry(f"Tensor.{name}", f"fastgrad.Tensor.{name}", None,
                          "Property. " + _describe(name, static))
            continue
        obj = getattr(T, name)
        fallback = getattr(fastgrad, name, None)
        sig = _signature(obj) if callable(obj) else None
        out += _entry(f"Tensor.{name}", f"fastgrad.Tensor.{name}", sig,
                      _describe(name, obj, fallback if callable(fallback) else None))
    out += ["## The fastgrad namespace", "",
            "Submodules (`nn`, `optim`, `autograd`, ...) have their own pages.", ""]
    for name in sorted(set(fastgrad.__all__), key=lambda n: (n.lower(), n)):
        obj = getattr(fastgrad, name)
        if inspect.ismodule(obj):
            continue
        if inspect.isclass(obj) or callable(obj):
            sig = _signature(obj) if inspect.isfunction(obj) or inspect.isbuiltin(obj) \
                else None
            if inspect.isclass(obj):
                sig = None
            tmethod = getattr(T, name, None)
            out += _entry(f"fastgrad.{name}", f"fastgrad.{name}", sig,
                          _describe(name, obj, tmethod))
        else:
            out += _entry(f"fastgrad.{name}", f"fastgrad.{name}", None,
                          f"`{obj!r}` ({type(obj).__name__}).")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    text = generate()
    if MISSING:
        sys.exit(f"gen_api_tables: no description for {MISSING}: add them to DESCRIPTIONS")
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if OUT.read_text() == text else f"{OUT} is out of date")
    OUT.write_text(text)
    print(f"wrote {OUT} ({text.count(chr(10))} lines)")
