"""Class-wise FIFO memory bank of feature vectors (U2PL's negative queues).

Every queue is a preallocated ring buffer held in registered buffers, so the bank is part of
the model's ``state_dict``: MMEngine checkpoints save it and resuming restores it.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


class ClassMemoryBank(nn.Module):
    """One first-in-first-out queue of ``dim``-d features per class.

    A queue at capacity keeps only its newest entries. Rows ``[0, size(c))`` of
    ``queue_<c>`` hold the stored features (their order inside the ring does not matter:
    sampling is uniform).

    Args:
        capacities: Capacity of each class's queue.
        dim: Feature dimension.
    """

    def __init__(self, capacities: Sequence[int], dim: int) -> None:
        super().__init__()
        if not capacities or min(capacities) < 1:
            raise ValueError(f"every queue needs a positive capacity, got {list(capacities)}")
        self.capacities = tuple(int(c) for c in capacities)
        self.dim = dim
        for c, capacity in enumerate(self.capacities):
            self.register_buffer(f"queue_{c}", torch.zeros(capacity, dim))
        self.register_buffer("pointer", torch.zeros(len(self.capacities), dtype=torch.long))
        self.register_buffer("count", torch.zeros(len(self.capacities), dtype=torch.long))

    @property
    def num_classes(self) -> int:
        return len(self.capacities)

    def queue(self, c: int) -> Tensor:
        """The whole ring buffer of class ``c``, ``[capacity, dim]``."""
        return getattr(self, f"queue_{c}")

    def size(self, c: int) -> int:
        """Number of features stored for class ``c``."""
        return int(self.count[c])

    def features(self, c: int) -> Tensor:
        """The stored features of class ``c``, ``[size(c), dim]``."""
        return self.queue(c)[: self.size(c)]

    @torch.no_grad()
    def push(self, c: int, keys: Tensor) -> None:
        """Enqueue ``keys`` ``[n, dim]`` (oldest first) into queue ``c``, dropping the oldest."""
        n = keys.shape[0]
        if n == 0:
            return
        queue, capacity = self.queue(c), self.capacities[c]
        keys = keys.detach().to(queue.dtype)
        if n >= capacity:
            queue.copy_(keys[n - capacity:])
            self.pointer[c] = 0
            self.count[c] = capacity
            return
        start = int(self.pointer[c])
        rows = (start + torch.arange(n, device=queue.device)) % capacity
        queue[rows] = keys
        self.pointer[c] = (start + n) % capacity
        self.count[c] = min(int(self.count[c]) + n, capacity)

    def sample(self, c: int, n: int) -> Tensor:
        """``n`` features of class ``c`` drawn uniformly with replacement, ``[n, dim]``.

        Raises:
            ValueError: If queue ``c`` is empty.
        """
        size = self.size(c)
        if size == 0:
            raise ValueError(f"memory bank of class {c} is empty")
        queue = self.queue(c)
        return queue[torch.randint(size, (n,), device=queue.device)]

    def fill_ratio(self) -> float:
        """Stored features over total capacity, all classes together."""
        return float(self.count.sum()) / sum(self.capacities)
