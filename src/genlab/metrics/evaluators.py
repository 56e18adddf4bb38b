"""Domain evaluators: small classifiers genlab trains deterministically per data set.

Their penultimate features give a domain FID and their logits a domain IS. These are NOT the
Inception numbers papers report: metric names carry the data set (e.g. fid_digits).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genlab.data.tensor_batches import permutation
from genlab.metrics.content import content_key

HELD_OUT_SPLIT = 3  # permutation purpose for the held-out split of an evaluator's data
HELD_OUT_FRACTION = 1 / 6


class EvaluatorNet(nn.Module):
    """Two conv blocks and a 128-d penultimate layer for 1-channel images of side % 4 == 0."""

    def __init__(self, channels: int, side: int, num_classes: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (side // 4) ** 2, 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(x)
        return features, self.head(features)


@dataclass(frozen=True)
class EvaluatorSettings:
    """How an evaluator is trained; part of its cache key."""

    train_steps: int
    batch_size: int
    lr: float

    def key(self) -> str:
        text = json.dumps(self.__dict__, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


@dataclass
class Evaluator:
    """A trained domain classifier and what identifies it."""

    net: EvaluatorNet
    data: str
    accuracy: float
    content_hash: str

    def identity(self) -> dict[str, Any]:
        return {
            f"evaluator_{self.data}_accuracy": self.accuracy,
            f"evaluator_{self.data}_hash": self.content_hash,
        }


def content_hash(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 (16 hex digits) of the weights, in key order."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        digest.update(key.encode())
        digest.update(state_dict[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def split_held_out(num_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, held-out indices): a fixed split of a data set's training items."""
    order = permutation(num_items, HELD_OUT_SPLIT, 0)
    held = int(num_items * HELD_OUT_FRACTION)
    return order[held:], order[:held]


def train_evaluator(
    data: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: EvaluatorSettings,
    progress: bool = True,
) -> Evaluator:
    """Train deterministically (fixed seed, fixed order) on the data set's training items minus
    a fixed held-out sixth, and measure accuracy on that held-out sixth."""
    from tqdm import tqdm

    train_idx, held_idx = split_held_out(len(images))
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = EvaluatorNet(images.shape[1], images.shape[2], int(labels.max()) + 1)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    steps = tqdm(
        range(settings.train_steps),
        desc=f"training the {data} evaluator",
        disable=not progress,
        mininterval=2.0,
    )
    for _ in steps:
        batch = train_idx[
            torch.randint(len(train_idx), (settings.batch_size,), generator=generator)
        ]
        _, logits = net(images[batch])
        loss = F.cross_entropy(logits, labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    net.eval().requires_grad_(False)
    accuracy = held_out_accuracy(net, images[held_idx], labels[held_idx])
    return Evaluator(net, data, accuracy, content_hash(net.state_dict()))


@torch.no_grad()
def held_out_accuracy(net: EvaluatorNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    correct = 0
    for start in range(0, len(images), 1000):
        _, logits = net(images[start : start + 1000])
        correct += int((logits.argmax(dim=1) == labels[start : start + 1000]).sum())
    return correct / len(images)


def evaluator_path(
    cache_dir: str | Path,
    data: str,
    settings: EvaluatorSettings,
    images: torch.Tensor,
    labels: torch.Tensor,
) -> Path:
    """Where the evaluator of these images and labels, trained with `settings`, is cached."""
    key = content_key(images, labels)
    return Path(cache_dir) / "evaluators" / f"{data}-{settings.key()}-{key}.pt"


def save_evaluator(evaluator: Evaluator, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")  # one per concurrent writer
    net = evaluator.net
    torch.save(
        {
            "state_dict": net.state_dict(),
            "shape": [net.trunk[0].in_channels, net.head.out_features],
            "side": int((net.trunk[7].in_features // 64) ** 0.5 * 4),
            "data": evaluator.data,
            "accuracy": evaluator.accuracy,
            "content_hash": evaluator.content_hash,
        },
        partial,
    )
    partial.replace(path)


def load_evaluator(path: Path) -> Evaluator:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    channels, classes = saved["shape"]
    net = EvaluatorNet(channels, saved["side"], classes)
    net.load_state_dict(saved["state_dict"])
    net.eval().requires_grad_(False)
    if content_hash(net.state_dict()) != saved["content_hash"]:
        raise ValueError(f"evaluator {path} does not match its recorded hash; delete it to retrain")
    return Evaluator(net, saved["data"], saved["accuracy"], saved["content_hash"])
