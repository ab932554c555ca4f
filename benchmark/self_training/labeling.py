"""Offline pseudo-labelling of the unlabeled set, one round at a time, kept on disk.

Per round ``k`` the :class:`PseudoLabeler` runs the teacher (the model at the end of
round ``k-1``) on every unlabeled image at full resolution (the evaluation's sliding
window of the training crop, optionally averaged with the horizontal flip), stores argmax and
confidence (float16) per image, lets the method turn them into pseudo-labels (e.g.
DARS's class-wise thresholds and sampling, which need statistics over the whole set
first), and writes

    <work_dir>/self_training/round<k>/<index:06d>.png           uint8, 255 = unlabeled
    <work_dir>/self_training/round<k>/<index:06d>.entropy.npz   float16 (if asked for)
    <work_dir>/self_training/round<k>/summary.json              diagnostics, written last

``summary.json`` marks a finished round: a resumed run reuses the folder instead of
labelling again (the loop clears the folders when a run starts from iteration 0).
Diagnostics compare the pseudo-labels with the labeled class distribution (KL
divergence, as in DARS Table 5) and, where the dataset has it, with the hidden ground
truth of the unlabeled images (accuracy; never seen by the method).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import DATASETS
from PIL import Image
from torch import Tensor

from benchmark.errors import BenchmarkError
from benchmark.models.sliding_window import (
    check_window_rule,
    evaluation_window_rule,
    sliding_window_probs,
)
from benchmark.self_training.data import label_file

IGNORE_INDEX = 255
SUMMARY = "summary.json"
LogitsFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class LabelingSettings:
    """How the teacher labels an unlabeled image.

    Attributes:
        mode: ``"slide"`` (windows of ``window`` px) or ``"whole"`` (one forward pass).
        window: ``(h, w)`` of the sliding window (the training crop).
        stride_ratio: Stride as a fraction of the window, rounded up (2/3 in DARS).
        flip: Average every window's logits with those of its horizontal flip.
        store_entropy: Also store the teacher's entropy map (float16) per image.
        window_rule: Window placement, ``"official"`` (the last windows clipped at the
            border) or ``"mmseg"`` (the last window shifted inside the image); None (the
            default) takes the teacher's evaluation rule (``test_cfg.window_rule`` where the
            protocol evaluates with a sliding window, else ``"mmseg"``, see
            :func:`~benchmark.models.sliding_window.evaluation_window_rule`).
    """

    mode: str = "slide"
    window: tuple[int, int] | None = None
    stride_ratio: float = 2 / 3
    flip: bool = False
    store_entropy: bool = False
    window_rule: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("slide", "whole"):
            raise ValueError(f"labeling mode must be 'slide' or 'whole', got {self.mode!r}")
        if self.window_rule is not None:
            check_window_rule(self.window_rule)

    def for_network(self, network) -> LabelingSettings:
        """These settings with the window rule of ``network``'s evaluation if none is set."""
        if self.window_rule is not None:
            return self
        return replace(self, window_rule=evaluation_window_rule(network))
        if self.mode == "slide" and self.window is None:
            raise ValueError("sliding-window labelling needs a window (the training crop)")


def class_counts(label: Tensor, num_classes: int) -> Tensor:
    """Pixels per class of a label map (255 and other out-of-range values ignored)."""
    kept = label[(label >= 0) & (label < num_classes)].long().flatten().cpu()
    return torch.bincount(kept, minlength=num_classes)


def kl_divergence(reference: Tensor, other: Tensor, eps: float = 1e-12) -> float:
    """``D_KL(p ‖ q)`` (natural log) of two count or probability vectors.

    Classes absent from ``p`` contribute 0; a class absent from ``q`` counts as ``eps``.
    """
    p = reference.double() / reference.double().sum().clamp(min=1e-300)
    q = other.double() / other.double().sum().clamp(min=1e-300)
    present = p > 0
    return float((p[present] * (p[present] / q[present].clamp(min=eps)).log()).sum())


def _flip_averaged(logits_fn: LogitsFn, image: Tensor, flip: bool) -> Tensor:
    logits = logits_fn(image)
    if flip:
        logits = (logits + logits_fn(image.flip(-1)).flip(-1)) / 2
    return logits


@torch.no_grad()
def teacher_probabilities(logits_fn: LogitsFn, image: Tensor,
                          settings: LabelingSettings) -> Tensor:
    """Teacher class probabilities of full images, ``[B, C, H, W]``.

    Sliding mode uses the evaluation's window function
    (:func:`~benchmark.models.sliding_window.sliding_window_probs`): windows of the
    training crop with stride ``ceil(stride_ratio·crop)`` placed by
    ``settings.window_rule`` (None: MMSeg's rule), each window's softmax averaged over
    the windows covering a pixel. With ``flip`` a window's logits are first averaged with
    those of its horizontal flip. Whole mode is the softmax of one (flip-averaged) forward pass.

    Args:
        logits_fn: Maps normalised images ``[B, 3, h, w]`` to logits ``[B, C, h, w]``.
        image: Normalised images ``[B, 3, H, W]``.
        settings: Mode, window, stride ratio, window rule and flip.
    """
    if settings.mode == "whole":
        return _flip_averaged(logits_fn, image, settings.flip).float().softmax(dim=1)
    win_h, win_w = settings.window
    stride = (math.ceil(settings.stride_ratio * win_h), math.ceil(settings.stride_ratio * win_w))
    return sliding_window_probs(lambda crop: _flip_averaged(logits_fn, crop, settings.flip),
                                image, settings.window, stride, settings.window_rule or "mmseg")


class PredictionStore(Sequence):
    """The teacher's ``(label, confidence)`` per unlabeled image, read lazily from disk."""

    def __init__(self, folder: Path, num_images: int) -> None:
        self.folder = Path(folder)
        self.num_images = num_images

    def path(self, index: int) -> Path:
        return self.folder / f"{index:06d}.npz"

    def save(self, index: int, label: Tensor, confidence: Tensor) -> None:
        np.savez(self.path(index), label=label.cpu().numpy().astype(np.uint8),
                 confidence=confidence.cpu().numpy().astype(np.float16))

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not 0 <= index < self.num_images:
            raise IndexError(index)
        with np.load(self.path(index)) as stored:
            return (torch.from_numpy(stored["label"].astype(np.int64)),
                    torch.from_numpy(stored["confidence"].astype(np.float32)))


@dataclass
class SelectionContext:
    """What a method sees when it turns teacher predictions into pseudo-labels.

    Attributes:
        round_index: The round ``k`` being labelled (1 for the first self-training round).
        settings: The round's ``selection`` settings from the config (e.g. DARS ``alpha``).
        labeled_distribution: Class distribution ``r`` of the labeled pixels, ``[C]``.
        num_pixels: ``P_u``, unlabeled pixels in total.
        class_names: Class names, for diagnostics.
        seed: Seed for any random choice (fixed per run and round).
    """

    round_index: int
    settings: dict
    labeled_distribution: Tensor
    num_pixels: int
    class_names: tuple[str, ...]
    seed: int


@dataclass
class PseudoLabelSelection:
    """A method's pseudo-label rule for one round.

    Attributes:
        label: ``label(index, argmax, confidence) -> pseudo_label`` (255 = unlabeled),
            called once per image in index order.
        diagnostics: Scalars for the run record (without the ``round<k>_`` prefix).
        details: JSON-able extras stored in the round's ``summary.json``.
    """

    label: Callable[[int, Tensor, Tensor], Tensor]
    diagnostics: dict[str, float] = field(default_factory=dict)
    details: dict = field(default_factory=dict)


SelectFn = Callable[[Sequence[tuple[Tensor, Tensor]], SelectionContext], PseudoLabelSelection]


@dataclass
class RoundLabels:
    """A finished round's pseudo-labels on disk.

    Attributes:
        round_index: ``k``.
        folder: The round folder.
        has_entropy: Whether entropy maps were stored.
        diagnostics: Flat scalars (``kl``, ``pseudo_fraction``, ``pseudo_acc``...).
    """

    round_index: int
    folder: Path
    has_entropy: bool
    diagnostics: dict[str, float]

    @classmethod
    def load(cls, folder: Path) -> RoundLabels | None:
        """The round in ``folder`` if its labelling finished (``summary.json`` exists)."""
        path = Path(folder) / SUMMARY
        if not path.is_file():
            return None
        summary = json.loads(path.read_text())
        return cls(summary["round"], Path(folder), summary["has_entropy"],
                   summary["diagnostics"])


def _atomic_json(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)


class PseudoLabeler:
    """Labels the unlabeled split once per round and keeps the result in ``root``.

    Args:
        root: Folder of the rounds (``<work_dir>/self_training``).
        labeled: Config of the labeled :class:`~benchmark.data.SplitListDataset`.
        unlabeled: Config of the unlabeled one (its pipeline is replaced here).
        settings: How the teacher labels an image.
    """

    def __init__(self, root: Path, labeled: dict, unlabeled: dict,
                 settings: LabelingSettings) -> None:
        self.root = Path(root)
        self.settings = settings
        load = [dict(type="LoadImageFromFile"), dict(type="PackSegInputs")]
        self.images = DATASETS.build({**unlabeled, "pipeline": load, "test_mode": True})
        self.labeled = DATASETS.build({**labeled, "pipeline": [], "test_mode": True})
        self.class_names = tuple(self.images.metainfo["classes"])
        self.generated_rounds: list[int] = []
        self._labeled_distribution: Tensor | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def folder(self, round_index: int) -> Path:
        return self.root / f"round{round_index}"

    def image_list(self) -> list[str]:
        return [info["img_path"] for info in self.images.load_data_list()]

    def load(self, round_index: int) -> RoundLabels | None:
        """The stored labels of a round, or None if that round was never finished.

        Raises:
            BenchmarkError: If they were made for a different unlabeled list.
        """
        labels = RoundLabels.load(self.folder(round_index))
        if labels is not None:
            summary = json.loads((labels.folder / SUMMARY).read_text())
            if summary["images"] != [Path(p).name for p in self.image_list()]:
                raise BenchmarkError(
                    f"pseudo-labels in {labels.folder} were made for another unlabeled list; "
                    "delete that folder or use a fresh --work-dir")
        return labels

    def labeled_distribution(self) -> Tensor:
        """Class distribution ``r`` of the valid labeled pixels (computed once)."""
        if self._labeled_distribution is None:
            loader = LoadAnnotations()
            counts = torch.zeros(self.num_classes, dtype=torch.long)
            for info in self.labeled.load_data_list():
                gt = loader(dict(info))["gt_seg_map"].astype(np.int64)
                counts += class_counts(torch.from_numpy(gt), self.num_classes)
            self._labeled_distribution = counts.double() / counts.sum().clamp(min=1)
        return self._labeled_distribution

    def _hidden_gt(self, info: dict) -> Tensor | None:
        try:
            gt = LoadAnnotations()(dict(info))["gt_seg_map"]
        except (FileNotFoundError, OSError):
            return None
        return torch.from_numpy(gt.astype(np.int64))

    @torch.no_grad()
    def predict(self, model, store: PredictionStore) -> int:
        """Run the teacher on every unlabeled image; store argmax, confidence, entropy.

        ``model`` is a :class:`~benchmark.models.SemiSegmentor`; its data preprocessor
        normalises the images and ``model.eval_network`` is the teacher.

        Returns:
            The number of unlabeled pixels ``P_u``.
        """
        network = model.eval_network
        settings = self.settings.for_network(network)
        was_training = model.training
        model.eval()
        num_pixels = 0
        try:
            for index in range(len(self.images)):
                batch = model.data_preprocessor(pseudo_collate([self.images[index]]), False)
                probs = teacher_probabilities(lambda x: model.logits(network, x),
                                              batch["inputs"], settings)[0]
                confidence, label = probs.max(dim=0)
                store.save(index, label, confidence)
                num_pixels += label.numel()
                if self.settings.store_entropy:
                    entropy = torch.special.entr(probs).sum(dim=0)
                    np.savez_compressed(store.folder / f"{index:06d}.entropy.npz",
                                        entropy=entropy.cpu().numpy().astype(np.float16))
        finally:
            model.train(was_training)
        return num_pixels

    def generate(self, round_index: int, model, select: SelectFn, settings: dict,
                 seed: int) -> RoundLabels:
        """Label the unlabeled set for ``round_index`` with ``model`` and keep the result.

        Args:
            round_index: ``k >= 1``.
            model: The teacher (the model as round ``k-1`` left it).
            select: The method's rule (:meth:`SelfTrainingSegmentor.select_pseudo_labels`).
            settings: The round's ``selection`` settings.
            seed: Seed of the method's random choices.
        """
        start = time.perf_counter()
        folder = self.folder(round_index)
        if folder.exists():
            shutil.rmtree(folder)  # an unfinished earlier attempt
        scratch = folder / "predictions"
        scratch.mkdir(parents=True)
        store = PredictionStore(scratch, len(self.images))
        num_pixels = self.predict(model, store)

        infos = self.images.load_data_list()
        context = SelectionContext(round_index, dict(settings), self.labeled_distribution(),
                                   num_pixels, self.class_names, seed)
        selection = select(store, context)

        pseudo_counts = torch.zeros(self.num_classes, dtype=torch.long)
        argmax_counts = torch.zeros(self.num_classes, dtype=torch.long)
        correct = judged = 0
        for index in range(len(store)):
            label, confidence = store[index]
            pseudo = selection.label(index, label, confidence).long()
            Image.fromarray(pseudo.cpu().numpy().astype(np.uint8)).save(label_file(folder, index))
            pseudo_counts += class_counts(pseudo, self.num_classes)
            argmax_counts += class_counts(label, self.num_classes)
            gt = self._hidden_gt(infos[index])
            if gt is not None and gt.shape == pseudo.shape:
                judged_pixels = (pseudo != IGNORE_INDEX) & (gt != IGNORE_INDEX)
                correct += int((pseudo == gt)[judged_pixels].sum())
                judged += int(judged_pixels.sum())
        if self.settings.store_entropy:
            for index in range(len(store)):
                name = f"{index:06d}.entropy.npz"
                os.replace(scratch / name, folder / name)
        shutil.rmtree(scratch)

        distribution = self.labeled_distribution()
        diagnostics = {
            "kl": kl_divergence(distribution, pseudo_counts),
            "kl_argmax": kl_divergence(distribution, argmax_counts),
            "pseudo_fraction": float(pseudo_counts.sum()) / max(num_pixels, 1),
            **({"pseudo_acc": correct / judged} if judged else {}),
            **selection.diagnostics,
            "labeling_seconds": time.perf_counter() - start,
        }
        _atomic_json(folder / SUMMARY, {
            "round": round_index,
            "has_entropy": self.settings.store_entropy,
            "images": [Path(info["img_path"]).name for info in infos],
            "num_pixels": num_pixels,
            "diagnostics": diagnostics,
            "class_names": list(self.class_names),
            "labeled_distribution": distribution.tolist(),
            "pseudo_label_counts": pseudo_counts.tolist(),
            "argmax_counts": argmax_counts.tolist(),
            "selection": selection.details,
            "settings": dict(settings),
        })
        self.generated_rounds.append(round_index)
        return RoundLabels.load(folder)
