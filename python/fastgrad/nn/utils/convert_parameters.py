"""parameters_to_vector and vector_to_parameters, as torch.nn.utils: one flat vector of all
parameters (differentiable: a cat of reshapes) and back (copied into the parameters in place)."""

from __future__ import annotations

from collections.abc import Iterable

from fastgrad.tensor import Tensor


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated, shape (sum of numel,).

    Example: ``v = parameters_to_vector(model.parameters())``.
    """
    from fastgrad._ops import cat

    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copies consecutive slices of ``vec`` (shape (sum of numel,)) into the parameters, in
    order, without recording autograd history.

    Example: ``vector_to_parameters(v * 0.5, model.parameters())``.
    """
    from fastgrad.autograd import no_grad

    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.shape[0] < total:
        raise ValueError(f"vector_to_parameters: vec of shape {tuple(vec.shape)} does not hold "
                         f"the {total} elements of the parameters")
    pointer = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.copy_(vec.detach()[pointer:pointer + n].reshape(p.shape))
            pointer += n
