"""Protocol rules applied while a run's config is composed.

A protocol config states a few numbers (crop size, epochs, batch, classes); these
functions derive the entries that follow from them, so that one value is set in one
place and ``--cfg-options crop_size=...`` changes everything that depends on it.
"""

from __future__ import annotations

import os

import torch
from mmengine.config import Config

from benchmark.data.photometric import PAPER_BLUR_SIGMA
from benchmark.errors import BenchmarkError
from benchmark.splits import SplitFiles, read_split_list

CROPPING_TRANSFORMS = ("PadToCrop", "RandomCrop")


def apply_crop_size(cfg: Config) -> None:
    """Write ``cfg.crop_size`` into pads, crops, the preprocessor and the sliding window.

    The sliding window equals the training crop and its stride is ``int(2/3 window)``.
    Configs without ``crop_size`` are left alone.
    """
    crop = cfg.get("crop_size")
    if crop is None:
        return
    for node in _config_dicts(cfg):
        if node.get("type") == "PadToCrop":
            node["crop_size"] = crop
        elif node.get("type") == "RandomCrop":
            node["crop_size"] = (crop, crop)
    cfg.model.data_preprocessor.size = (crop, crop)
    test_cfg = cfg.model.segmentor.get("test_cfg") or {}
    if test_cfg.get("mode") == "slide":
        stride = int(crop * 2 / 3)
        test_cfg.update(crop_size=(crop, crop), stride=(stride, stride))


STRONG_VIEW_KEYS = ("jitter_p", "grayscale_p", "blur_p")


def strong_blur_sigma(strong_aug: dict, crop_size: int | None) -> tuple[float, float]:
    """The blur's sigma range of ``strong_aug`` at ``crop_size``.

    ``blur_sigma`` is given as the papers state it; with ``reference_crop`` set it is
    scaled by ``crop_size / reference_crop`` (a blur keeps its size relative to the crop,
    as the papers' sigma is relative to their 321-801 px crops).
    """
    low, high = strong_aug.get("blur_sigma", PAPER_BLUR_SIGMA)
    reference = strong_aug.get("reference_crop")
    if reference and crop_size:
        scale = float(crop_size) / float(reference)
        low, high = low * scale, high * scale
    return (round(float(low), 4), round(float(high), 4))


def apply_strong_augmentation(cfg: Config) -> None:
    """Write the protocol's ``strong_aug`` into every strong-view step of the run.

    ``strong_aug`` (a protocol setting, the same for every method) holds the
    probabilities of the strong view's colour jitter, grayscale and blur
    (``jitter_p``, ``grayscale_p``, ``blur_p``), the blur's sigma range (``blur_sigma``,
    with ``reference_crop`` to scale it to the crop, see :func:`strong_blur_sigma`) and
    the CutMix probability (``cutmix_p``). They go into the pipeline's ``StrongViews`` and
    ``CutMixBoxes`` and, for a method that augments inside the model (it has a
    ``blur_kernel`` argument, e.g. UPC), into its ``blur_sigma``. Configs without
    ``strong_aug`` keep the values their pipelines state.
    """
    strong_aug = cfg.get("strong_aug")
    if not strong_aug:
        return
    sigma = strong_blur_sigma(strong_aug, cfg.get("crop_size"))
    for node in _config_dicts(cfg):
        if node.get("type") == "StrongViews":
            node.update({key: strong_aug[key] for key in STRONG_VIEW_KEYS if key in strong_aug})
            node["blur_sigma"] = sigma
        elif node.get("type") == "CutMixBoxes" and "cutmix_p" in strong_aug:
            node["p"] = strong_aug["cutmix_p"]
    if "blur_kernel" in cfg.model:
        cfg.model.blur_sigma = sigma


def apply_weight_average(cfg: Config) -> None:
    """Evaluate an average of the weights if the protocol sets ``eval_weight_average``.

    ``eval_weight_average`` is None (evaluate the weights as trained) or the momentum
    ``m`` of an exponential moving average of every weight and buffer, updated after each
    iteration (time constant ``1/m`` iterations). The average is what is validated and
    recorded; the raw weights are validated beside it (``raw.mIoU`` in the record's
    validation history). See :mod:`benchmark.engine.weight_average`.
    """
    momentum = cfg.get("eval_weight_average")
    if not momentum:
        return
    if not 0.0 < float(momentum) < 1.0:
        raise BenchmarkError(
            f"eval_weight_average={momentum} is not a momentum in (0, 1); use e.g. 0.01 (a "
            "time constant of 100 iterations) or None to evaluate the weights as trained")
    hooks = [hook for hook in cfg.get("custom_hooks", [])
             if hook.get("type") != "WeightAverageHook"]
    hooks.append(dict(type="WeightAverageHook", momentum=float(momentum), update_buffers=True))
    cfg.custom_hooks = hooks
    cfg.val_cfg = dict(cfg.get("val_cfg") or {}, type="WeightAverageValLoop")


#: How a record's ``evaluated_network`` names averaged weights (``student, weight average 0.01``).
WEIGHT_AVERAGE_LABEL = ", weight average "


def evaluated_weights(cfg: Config, predict_on: str) -> str:
    """The evaluated network for the record: ``student``, or ``student, weight average 0.01``."""
    momentum = cfg.get("eval_weight_average")
    return f"{predict_on}{WEIGHT_AVERAGE_LABEL}{float(momentum):g}" if momentum else predict_on


def _config_dicts(cfg: Config):
    for key in list(cfg.keys()):
        yield from _dicts(cfg[key])


def _dicts(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _dicts(value)


def epoch_iterations(cfg: Config, files: SplitFiles) -> int:
    """``T = num_epochs * floor(N_u / B)``: an epoch is one pass over the unlabeled set.

    Supervised-only runs get the same T (matched iterations); split ``full`` (no
    unlabeled set) counts its labeled images instead.
    """
    pool = [files.unlabeled] if files.unlabeled is not None else list(files.labeled)
    count = sum(len(read_split_list(path)) for path in pool)
    return max(int(cfg.num_epochs) * (count // int(cfg.batch_size)), 1)


def multi_gpu() -> bool:
    """True in a multi-process CUDA run (the only place SyncBN works)."""
    return torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1


def resolve_norm(cfg: Config) -> None:
    """Replace SyncBN by BN unless the run is multi-process on CUDA.

    SyncBN needs CUDA and a process group; on one device BN over the per-forward batch
    is the same computation.
    """
    if multi_gpu():
        return
    for node in _config_dicts(cfg):
        if node.get("type") == "SyncBN":
            node["type"] = "BN"


def set_classes(cfg: Config, classes: tuple[str, ...], palette: list) -> None:
    """Give every dataset the class names and palette and the head its class count."""
    metainfo = dict(classes=tuple(classes), palette=palette)
    cfg.metainfo = metainfo
    train_set = cfg.train_dataloader.dataset
    for dataset in (train_set.labeled, train_set.get("unlabeled"), cfg.val_dataloader.dataset,
                    cfg.test_dataloader.dataset):
        if dataset is not None:
            dataset.metainfo = metainfo
    cfg.model.segmentor.decode_head.num_classes = len(classes)


def evaluation_mode(cfg: Config) -> str:
    """How the evaluated network predicts, e.g. ``whole`` or ``slide 801/534``."""
    test_cfg = cfg.model.segmentor.get("test_cfg") or {}
    if test_cfg.get("mode") == "slide":
        return f"slide {test_cfg['crop_size'][0]}/{test_cfg['stride'][0]}"
    return str(test_cfg.get("mode", "whole"))


def backbone_label(cfg: Config) -> str:
    """The backbone choice (``--backbone`` name), else its type and depth (``ResNetV1c-18``)."""
    if cfg.get("backbone_name"):
        return str(cfg.backbone_name)
    backbone = cfg.model.segmentor.backbone
    depth = backbone.get("depth")
    return f"{backbone.type}-{depth}" if depth else str(backbone.type)
