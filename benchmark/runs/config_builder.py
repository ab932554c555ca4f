"""Compose the MMEngine config of a run: protocol base + method leaf + overrides.

Composition order (later wins): the protocol's base config (model, data, schedule,
evaluation), the method's leaf config, the leaf's ``protocol_overrides[<dataset>]``
(``cityscapes`` applies to every Cityscapes protocol), the run's split files (checked on
disk), classes and seed, ``--backbone`` (with the settings of its network, see
:mod:`benchmark.runs.network_settings`), the schedule (``--iters`` or the protocol's
epochs), ``--pretrained``, and finally ``--cfg-options`` (checked against the config
composed so far, see :mod:`benchmark.runs.cfg_options`). The protocol rules that
follow from those values (crop size, strong augmentation, weight averaging, BN vs
SyncBN, the backbone checkpoint) are applied last.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from mmengine.config import Config

from benchmark.data.layout import check_dataset, label_folder
from benchmark.errors import BenchmarkError
from benchmark.protocols import FULL_SPLIT, get_protocol
from benchmark.registry import get_method
from benchmark.runs.cfg_options import option_problems, strip_new_key_markers
from benchmark.runs.network_settings import apply_network, check_patch_multiple
from benchmark.runs.protocol_settings import (
    apply_crop_size,
    apply_strong_augmentation,
    apply_weight_average,
    epoch_iterations,
    resolve_norm,
    set_classes,
)
from benchmark.runs.spec import RunSpec
from benchmark.runs.split_identity import is_reference, split_ids_sha256

# ``split_sha256`` is recorded; it enters the hash as ``edited_splits_sha256`` only for
# lists that are not the protocol's reference (see benchmark.runs.split_identity)
RUN_SPECIFIC_KEYS = ("work_dir", "randomness", "experiment_name", "log_level",
                     "resume_interval", "split_sha256", "reference_batch", "reference_lr")
# Entries that locate data or tune loading speed; they never change results.
NON_EXPERIMENTAL_KEYS = ("split_lists", "data_root", "metainfo", "num_workers",
                         "persistent_workers", "label_prefix")
PRETRAINED_DIR_ENV = "SEMISEG_PRETRAINED_DIR"
DEFAULT_PRETRAINED_DIR = "pretrained"


def build_config(spec: RunSpec, data_root: Path, work_dir: Path,
                 check_data: bool = True, require_weights: bool = True) -> Config:
    """Build the full config of ``spec``.

    Args:
        spec: The run.
        data_root: Dataset root (already checked or materialised).
        work_dir: Folder for checkpoints and logs of this run.
        check_data: Check that the dataset holds every listed file (False: compose the
            config from the shipped split lists alone, e.g. to plan a sweep on a machine
            without the data).
        require_weights: Stop if the backbone checkpoint is missing (False: compose
            without it; ``cfg.unknown_hash_input`` then says why the hash is not final).

    Returns:
        The MMEngine config.

    Raises:
        BenchmarkError: If the method cannot run on the split, its config is missing or
            ``spec.cfg_options`` name unknown keys or values of the wrong type (one line
            per problem).
    """
    protocol = get_protocol(spec.protocol, data_root)
    method = get_method(spec.method)
    if not method.config.is_file():
        raise BenchmarkError(
            f"config {method.config} of method '{spec.method}' not found; add the leaf config"
        )
    if not protocol.base_config.is_file():
        raise BenchmarkError(
            f"protocol '{spec.protocol}' has no base config yet ({protocol.base_config}); "
            "write it (see benchmark/configs/protocols/synthetic.py) or use --protocol "
            "synthetic"
        )
    # yapf-formatting the config text costs 1.4-2.2 s each time MMEngine prints, dumps or
    # checkpoints it (~9 times a run); the unformatted text is the same Python. mmengine
    # 0.10.7's fromfile drops format_python_code, the constructor keeps it (and deepcopy,
    # copy and pickle carry it on to the Runner's copies)
    base = Config.fromfile(protocol.base_config)
    cfg = Config(base.to_dict(), cfg_text=base.text, filename=base.filename,
                 env_variables=base.env_variables, format_python_code=False)
    leaf = Config.fromfile(method.config).to_dict()
    overrides = leaf.pop("protocol_overrides", {}) or {}
    cfg.merge_from_dict(leaf)
    cfg.merge_from_dict(overrides.get(protocol.dataset, {}))
    if cfg.model.type != method.cls.__name__:
        raise BenchmarkError(
            f"config {method.config} builds '{cfg.model.type}' but method '{spec.method}' is "
            f"class '{method.cls.__name__}'; set model.type='{method.cls.__name__}' there"
        )
    if method.source_sha256 is not None:
        # an external plugin's code is part of the experiment (built-in code is not hashed)
        cfg.plugin_sha256 = method.source_sha256

    files = protocol.split_files(spec.split, data_root)
    if check_data:
        check_dataset(protocol.layout, data_root, files)
    cfg.split_sha256 = split_ids_sha256(files)
    if not is_reference(protocol, files, data_root):
        cfg.edited_splits_sha256 = cfg.split_sha256
    train_set = cfg.train_dataloader.dataset
    if files.unlabeled is None:
        if method.needs_unlabeled:
            raise BenchmarkError(
                f"split '{FULL_SPLIT}' has no unlabeled images, so '{spec.method}' cannot run "
                f"on it; use a partition ({', '.join(protocol.partitions)}) or 'supervised'"
            )
        train_set.unlabeled = None
    else:
        train_set.unlabeled.update(split_lists=[str(files.unlabeled)], data_root=str(data_root))
    if not method.needs_unlabeled:
        train_set.labeled_only = True
    train_set.labeled.update(split_lists=[str(p) for p in files.labeled],
                             data_root=str(data_root))
    for loader in ("val_dataloader", "test_dataloader"):
        cfg[loader].dataset.update(split_lists=[str(files.val)], data_root=str(data_root))
    _locate_labels(cfg, protocol.layout, data_root)
    if protocol.builtin:
        _use_generated_classes(cfg, data_root)
    elif protocol.layout == "folder":
        from benchmark.data.folder import read_classes
        from benchmark.synthetic import voc_colormap

        classes = read_classes(data_root)
        set_classes(cfg, classes, [list(c) for c in voc_colormap(len(classes))])
    else:
        set_classes(cfg, cfg.metainfo.classes, cfg.metainfo.palette)

    if spec.backbone:
        from benchmark.models.backbones import backbone_preset

        apply_network(cfg, backbone_preset(spec.backbone), protocol.dataset)
    if spec.iters is not None:
        set_iterations(cfg, spec.iters)
    elif "num_epochs" in cfg:
        set_iterations(cfg, epoch_iterations(cfg, files))
    cfg.randomness = dict(seed=spec.seed, deterministic=False)
    cfg.work_dir = str(work_dir)
    if spec.pretrained:
        cfg.pretrained = spec.pretrained
    cfg.reference_batch = cfg.train_dataloader.batch_size
    cfg.reference_lr = cfg.optim_wrapper.optimizer.lr
    if spec.cfg_options:
        problems = option_problems(cfg, spec.cfg_options, method.cls, spec.method)
        if problems:
            raise BenchmarkError("\n".join(problems))
        cfg.merge_from_dict(strip_new_key_markers(spec.cfg_options))
    apply_crop_size(cfg)
    check_patch_multiple(cfg, _backbone_preset(cfg))
    apply_strong_augmentation(cfg)
    apply_weight_average(cfg)
    resolve_norm(cfg)
    resolve_pretrained_backbone(cfg, protocol, require_weights)
    return cfg


def _locate_labels(cfg: Config, layout: str, data_root: Path) -> None:
    """Point every dataset at the label folder the root really has (Pascal aug labels)."""
    folder = label_folder(layout, data_root)
    if folder is None:
        return
    train_set = cfg.train_dataloader.dataset
    for dataset in (train_set.labeled, train_set.get("unlabeled"), cfg.val_dataloader.dataset,
                    cfg.test_dataloader.dataset):
        if dataset is not None:
            dataset.label_prefix = folder


def resolve_pretrained_backbone(cfg: Config, protocol, require_file: bool = True) -> None:
    """Point the backbone's ``init_cfg`` at the checkpoint named by ``cfg.pretrained``.

    ``pretrained`` is ``'generated'`` (the built-in protocol's backbone, shipped with the
    package, see :mod:`benchmark.pretrain.asset`), ``'imagenet'`` (the backbone's ImageNet
    checkpoint in ``$SEMISEG_PRETRAINED_DIR``, default ``pretrained/``, e.g.
    ``pretrained/resnet101.pth``), ``'none'`` (random init) or a checkpoint path.
    The checkpoint's keys are checked against the backbone (and known namings adapted)
    before anything trains; it is loaded by MMEngine's ``Pretrained`` initialiser. Its
    SHA-256 is stored as ``cfg.pretrained_sha256`` and enters the config hash. With
    ``require_file=False`` a missing checkpoint leaves the backbone uninitialised and
    its reason in ``cfg.unknown_hash_input`` (the hash cannot be known without the file).

    Raises:
        BenchmarkError: If the value is unknown, the file is missing or its keys do not
            fit the backbone (one line with the counts).
    """
    from benchmark.pretrain.checkpoint_keys import checked_checkpoint

    source = cfg.get("pretrained", "none")
    backbone = cfg.model.segmentor.backbone
    backbone.pop("init_cfg", None)
    if source in (None, "none"):
        cfg.pretrained_sha256 = None
        return
    weights = "the built-in pretrained backbone (python -m benchmark pretrain)"
    if source != "generated":
        preset = _backbone_preset(cfg)
        weights = preset.weights if preset else "weights of the config's backbone"
    if source == "generated":
        if not protocol.builtin:
            raise BenchmarkError(f"pretrained='generated' exists only for the built-in protocol, "
                                 f"not '{protocol.name}'; pass a checkpoint path")
        from benchmark.pretrain import builtin_backbone

        found = builtin_backbone(protocol)
        path, sha256 = found.path, found.sha256
    else:
        from benchmark.pretrain.asset import file_sha256

        try:
            path = _checkpoint_path(cfg, str(source))
        except BenchmarkError as err:
            if require_file:
                raise
            cfg.pretrained_sha256 = None
            cfg.unknown_hash_input = str(err)
            return
        sha256 = file_sha256(path)
    loaded = checked_checkpoint(path, sha256, backbone.to_dict(), weights)
    backbone.init_cfg = dict(type="Pretrained", checkpoint=str(loaded))
    cfg.pretrained_sha256 = sha256


def _backbone_preset(cfg: Config):
    """The run's backbone preset (``--backbone`` or the protocol's), None without one."""
    from benchmark.models.backbones import backbone_preset

    name = cfg.get("backbone_name")
    return backbone_preset(name) if name else None


def _checkpoint_path(cfg: Config, source: str) -> Path:
    """The file named by ``pretrained``: a path, or ``'imagenet'`` at the default location."""
    import os

    preset = _backbone_preset(cfg)
    if source == "imagenet":
        if preset is None:
            raise BenchmarkError("pretrained='imagenet' needs a backbone preset; pass "
                                 "--backbone r50, r101 or timm:<name>, or --pretrained PATH")
        folder = Path(os.environ.get(PRETRAINED_DIR_ENV) or DEFAULT_PRETRAINED_DIR)
        path = folder.expanduser() / preset.weights_file
        if not path.is_file():
            raise BenchmarkError(
                f"{preset.weights} not found at {path}; put the file there, set "
                f"{PRETRAINED_DIR_ENV}=DIR, or pass --pretrained PATH (--pretrained none: "
                "random init)")
        return path
    path = Path(source).expanduser()
    if not path.is_file():
        weights = preset.weights if preset else "a checkpoint of the config's backbone"
        raise BenchmarkError(f"pretrained backbone checkpoint {path} not found; pass "
                             f"{weights}, or --pretrained none")
    return path


def _use_generated_classes(cfg: Config, data_root: Path) -> None:
    """Take class names, palette and class count from the generated dataset's meta.json.

    Also stores the dataset's fingerprint (what was asked for) as ``cfg.dataset_fingerprint``
    and the digest of its files (what this machine generated) as ``cfg.dataset_sha256``,
    so the config hash (and with it skip-if-done and leaderboard grouping) tells generated
    datasets apart, also when other library versions draw other images from one spec.
    """
    from benchmark.synthetic.content import verified_content_sha256

    meta = json.loads((Path(data_root) / "meta.json").read_text())
    cfg.dataset_fingerprint = meta["fingerprint"]
    # what this machine's libraries generated, checked against the shipped manifest
    cfg.dataset_sha256 = verified_content_sha256(Path(data_root))
    metainfo = dict(classes=tuple(meta["class_names"]), palette=meta["palette"])
    train_set = cfg.train_dataloader.dataset
    for dataset in (train_set.labeled, train_set.unlabeled, cfg.val_dataloader.dataset,
                    cfg.test_dataloader.dataset):
        if dataset is not None:
            dataset.metainfo = metainfo
    cfg.model.segmentor.decode_head.num_classes = len(meta["class_names"])


def set_iterations(cfg: Config, iters: int) -> None:
    """Set the training length, the poly schedule's end and the validation interval.

    The protocol's ``num_iters`` follows, so ``--iters N`` composes the same config (and
    config hash) as a protocol whose default schedule is N.
    """
    if iters < 1:
        raise BenchmarkError(f"--iters must be positive, got {iters}")
    if "num_iters" in cfg:
        cfg.num_iters = iters
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = max(iters // 5, 1)
    for scheduler in cfg.param_scheduler:
        scheduler["end"] = iters


def config_hash(cfg: Config) -> str:
    """SHA-256 of the config without run-specific entries (paths, seed, work dir, loaders).

    Runs of the same method and settings on different splits and seeds share it.
    """
    data = copy.deepcopy(cfg.to_dict())
    for key in RUN_SPECIFIC_KEYS:
        data.pop(key, None)
    text = json.dumps(_strip_paths(data), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _strip_paths(node):
    if isinstance(node, dict):
        # a checkpoint path is machine-specific; its content enters as pretrained_sha256
        return {k: _strip_paths(v) for k, v in node.items()
                if k not in NON_EXPERIMENTAL_KEYS and not (k == "checkpoint" and
                                                           isinstance(v, str))}
    if isinstance(node, (list, tuple)):
        return [_strip_paths(v) for v in node]
    return node
