"""An unmodified PyTorch-style training script (run by tests/test_run.py through fastgrad-run):
a small MLP classifier trained with SGD, written with PyTorch's usual imports and idioms."""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn as nn  # noqa: PLR0402 (PyTorch's idiom, on purpose)
import torch.nn.functional as F
from torch import optim


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.fc2 = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--no-cuda", action="store_true")
    parser.add_argument("--exit-code", type=int, default=0)
    args = parser.parse_args()
    use_cuda = not args.no_cuda and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    torch.manual_seed(1)
    torch.backends.cudnn.benchmark = True
    x = torch.randn(64, 4)
    y = (x[:, 0] + x[:, 1] > 0).long()
    model = Net().to(device)
    optimizer = optim.SGD(model.parameters(), lr=args.lr)
    criterion = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(args.epochs):
        data, target = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.6f}")
    with torch.no_grad():
        bce = F.binary_cross_entropy_with_logits(model(x)[:, 1], y.float())
    print(f"bce {bce.item():.6f}")
    print("argv", " ".join(sys.argv[1:]))
    print("torch is", torch.__name__, torch.nn.__name__, F.__name__, optim.__name__)
    sys.exit(args.exit_code)


if __name__ == "__main__":
    main()
