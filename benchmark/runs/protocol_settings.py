"""Protocol rules applied while a run's config is composed.

A protocol config states a few numbers (crop size, epochs, batch, classes); these
functions derive the entries that follow from them, so that one value is set in one
place and ``--cfg-options crop_size=...`` changes everything that depends on it.
"""

from __future__ import annotations

import os

import torch
from mmengine.config import Config

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
