"""What a set of tensors holds, as a short key: caches of real-image statistics and of domain
evaluators are keyed by it, so a data set whose images change never meets stale statistics."""

from __future__ import annotations

import hashlib

import torch


def content_key(*tensors: torch.Tensor) -> str:
    """sha256 (16 hex digits) of the tensors' dtypes, shapes and values, in order."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
