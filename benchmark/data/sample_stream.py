"""A data stream whose augmentation is a function of (sampler seed, draw position).

MMSeg's ``RandomCrop``, mmcv's ``RandomFlip``, torchvision's photometric transforms and
the suite's own transforms draw from the process-global NumPy, Python and torch
generators. With ``num_workers=0`` those are the training process's generators (so data
loading and the model's own random draws interleave), with workers they are each
worker's: the same seed gives other batches for other worker counts, and a resumed
``num_workers=0`` run draws other augmentations than the uninterrupted one.

:class:`DrawIndexedSampler` is MMEngine's ``InfiniteSampler`` that also numbers every
draw of the infinite stream (its position, counted over all ranks), and
:func:`seeded_draw` runs the pipeline of one draw with the global generators seeded from
``(sampler seed, position, index)`` and restores them afterwards. The augmentation of
every draw is then fixed by the run seed alone, whichever process loads it, and loading
never consumes the training process's random numbers.

Written here because MMEngine seeds generators per worker, not per sample, and the
library transforms take no generator argument; seeding the global generators around one
sample is the one place all of them listen to.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Iterator, NamedTuple

import numpy as np
import torch
from mmengine.dataset import InfiniteSampler
from mmseg.registry import DATA_SAMPLERS


class SampleDraw(NamedTuple):
    """One draw of the stream: the dataset index and the draw's own seed."""

    index: int
    seed: int


def draw_seed(sampler_seed: int, position: int, index: int) -> int:
    """The 128-bit seed of draw ``position`` (dataset item ``index``) of a stream.

    NumPy's ``SeedSequence`` mixes the three integers, so neighbouring positions give
    unrelated generators.
    """
    words = np.random.SeedSequence([sampler_seed, position, index]).generate_state(4)
    return int(sum(int(w) << (32 * i) for i, w in enumerate(words)))


@contextmanager
def seeded_draw(seed: int | None):
    """Run the body with NumPy, Python and torch (CPU) generators seeded from ``seed``.

    The previous states are restored on exit, so the caller's random stream is untouched.
    ``seed=None`` leaves the generators alone (a plain integer index, e.g. a test or a
    tool reading one item).
    """
    if seed is None:
        yield
        return
    saved = (np.random.get_state(), random.getstate(), torch.random.get_rng_state())
    np.random.seed(seed & 0xFFFFFFFF)
    random.seed(seed)
    torch.random.default_generator.manual_seed((seed >> 32) & 0x7FFFFFFFFFFFFFFF)
    try:
        yield
    finally:
        np.random.set_state(saved[0])
        random.setstate(saved[1])
        torch.random.set_rng_state(saved[2])


def split_draw(item: int | SampleDraw) -> tuple[int, int | None]:
    """``(index, seed)`` of a sampler item; a plain integer has no seed."""
    if isinstance(item, SampleDraw):
        return int(item.index), item.seed
    return int(item), None


@DATA_SAMPLERS.register_module()
class DrawIndexedSampler(InfiniteSampler):
    """MMEngine's ``InfiniteSampler`` yielding :class:`SampleDraw` items.

    The index sequence is exactly ``InfiniteSampler``'s (same seed, same permutations);
    each index comes with the seed of its position in the global stream, so a rank's
    items get the seeds they would have in a single-process run.

    Args:
        dataset: The dataset.
        shuffle: Shuffle every pass.
        seed: Stream seed; None draws it as MMEngine does (from the run's seeded
            generators, the same value on every rank).
    """

    def _infinite_indices(self) -> Iterator[SampleDraw]:
        for position, index in enumerate(super()._infinite_indices()):
            yield SampleDraw(index, draw_seed(self.seed, position, index))
