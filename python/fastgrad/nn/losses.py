"""Loss modules: CrossEntropyLoss, NLLLoss, MultiMarginLoss (the multiclass SVM hinge loss),
MSELoss, L1Loss. Each stores its options and calls nn.functional."""

from __future__ import annotations

from typing import Any

from fastgrad.nn import _functional_losses as _FL
from fastgrad.nn import functional as F
from fastgrad.nn.module import Module
from fastgrad.tensor import Tensor


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (N, C) against int64 class indices (N,).

    Example: ``nn.CrossEntropyLoss()(model(x), y)``.
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.weight = weight
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) at class indices (N,)."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = weight
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MultiMarginLoss(_Loss):
    """Multiclass hinge loss: mean over samples of sum_{j != y} max(0, margin - x_y + x_j)**p / C."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got {p}")
        self.p, self.margin, self.weight = p, margin, weight

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight,
                                   self.reduction)


class MSELoss(_Loss):
    """Mean squared error."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.l1_loss(input, target, self.reduction)


# --- more losses: binary cross-entropy, regression, divergence and margin losses ---------------
# Options as PyTorch's (size_average / reduce are its deprecated pair, mapped to reduction);
# weight and pos_weight are buffers, so they appear in state_dict() as in PyTorch.
class _MoreLoss(Module):
    def __init__(self, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        reduction = _FL._legacy_reduction(size_average, reduce, reduction)
        if reduction not in ("mean", "sum", "none", "batchmean") or (
                reduction == "batchmean" and not isinstance(self, KLDivLoss)):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', "
                             f"got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class BCELoss(_MoreLoss):
    """Binary cross-entropy of probabilities: -w * (y log x + (1 - y) log(1 - x)), logs clamped
    to >= -100. Example: ``nn.BCELoss()(torch.sigmoid(logits), labels)``."""

    def __init__(self, weight: Tensor | None = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _FL.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_MoreLoss):
    """Sigmoid + binary cross-entropy in one stable formula; ``pos_weight`` (C,) weighs the
    positive examples of each class. Example: ``nn.BCEWithLogitsLoss()(logits, labels)``."""

    def __init__(self, weight: Tensor | None = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean", pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _FL.binary_cross_entropy_with_logits(input, target, self.weight,
                                                    reduction=self.reduction,
                                                    pos_weight=self.pos_weight)


class SmoothL1Loss(_MoreLoss):
    """0.5 d^2 / beta for |d| < beta, else |d| - 0.5 beta."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _FL.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_MoreLoss):
    """0.5 d^2 for |d| <= delta, else delta (|d| - 0.5 delta)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(None, None, reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _FL.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(_MoreLoss):
    """KL divergence of ``target`` from log-probabilities ``input``; use reduction='batchmean'
    for the mathematical definition. Example: ``nn.KLDivLoss(reduction='batchmean')``."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _FL.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class SoftMarginLoss(_MoreLoss):
    """log(1 + exp(-y x)) with targets in {1, -1}."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _FL.soft_margin_loss(input, target, reduction=self.reduction)


class CosineEmbeddingLoss(_MoreLoss):
    """1 - cos(x1, x2) for y == 1, max(0, cos(x1, x2) - margin) for y == -1."""

    def __init__(self, margin: float = 0.0, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return _FL.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                         reduction=self.reduction)


class MarginRankingLoss(_MoreLoss):
    """max(0, -y (x1 - x2) + margin)."""

    def __init__(self, margin: float = 0.0, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return _FL.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)


class TripletMarginLoss(_MoreLoss):
    """max(d(a, p) - d(a, n) + margin, 0), d the pairwise p-norm distance."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: margin must be greater than 0, got {margin}")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return _FL.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                       eps=self.eps, swap=self.swap, reduction=self.reduction)


class CosineSimilarity(Module):
    """F.cosine_similarity along ``dim``: (N, D), (N, D) -> (N,) with dim=1."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return _FL.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """F.pairwise_distance: the p-norm of x1 - x2 + eps along the last dim."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return _FL.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
