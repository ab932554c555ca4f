"""The built-in protocol's pretrained backbone: the shipped asset, and how it is rebuilt.

ImageNet weights are a file everyone downloads; the built-in protocol's counterpart is a
file shipped with the package (:mod:`benchmark.pretrain.asset`): a backbone ``state_dict``
trained with MMEngine's ``Runner`` (a plain MMSeg ``EncoderDecoder`` with the protocol's
own network, augmentation and optimiser) on the separate pretraining set of
:mod:`benchmark.pretrain.recipe`. Every run loads it through the backbone's
``init_cfg=dict(type='Pretrained', checkpoint=...)``, exactly as a real protocol loads
ImageNet weights, and its SHA-256 enters every run's config hash and record. Nothing is
trained on first use.

A recipe or protocol network other than the shipped asset's (``SEMISEG_PRETRAIN``,
``SEMISEG_SYNTHETIC``) has no shipped file: its backbone is built here once per machine
and cached beside the generated data. ``python -m benchmark pretrain --rebuild`` rebuilds
the default one from the recipe to compare it with the shipped bytes.

Written here because MMEngine has no notion of "a derived artefact cached on disk with a
checksum"; the cache is an atomically installed folder guarded by a file lock, so two runs
started side by side build it once.
"""

from __future__ import annotations

import copy
import fcntl
import json
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.errors import BenchmarkError
from benchmark.pretrain.asset import PretrainedBackbone, file_sha256, shipped_backbone
from benchmark.pretrain.recipe import (
    PretrainRecipe,
    fingerprint,
    pretraining_spec,
)
from benchmark.streams import CONSOLE, console_stream
from benchmark.synthetic import SyntheticSpec, default_root, materialize

CHECKPOINT_FILE = "backbone.pth"
# Threads of the pretraining run on CPU, fixed so that the checkpoint (and with its
# checksum every run's config hash) does not depend on the machine's core count.
PRETRAIN_THREADS = 2
META_FILE = "meta.json"


@dataclass(frozen=True)
class BuildPlan:
    """What a backbone is made of: benchmark spec, recipe, pretraining set, Runner config.

    Attributes:
        target: The benchmark data set's spec (its classes are excluded from pretraining).
        recipe: Pretraining recipe.
        data: The pretraining data set's spec.
        runner_cfg: The Runner config that trains it (:func:`pretraining_config`).
        key: Fingerprint of the three (names the shipped asset and the cache folder).
    """

    target: SyntheticSpec
    recipe: PretrainRecipe
    data: SyntheticSpec
    runner_cfg: dict
    key: str

    @property
    def cache_folder(self) -> Path:
        """Where this machine caches a build of the plan."""
        return pretrained_root(self.data, self.key)


def build_plan(target: SyntheticSpec, protocol_cfg, recipe: PretrainRecipe) -> BuildPlan:
    """The plan of the backbone for ``protocol_cfg``'s network trained by ``recipe``."""
    data = pretraining_spec(target, recipe)
    runner_cfg = pretraining_config(protocol_cfg, data, recipe)
    return BuildPlan(target, recipe, data, runner_cfg, fingerprint(recipe, data, runner_cfg))


def builtin_plan(protocol) -> BuildPlan:
    """The plan of the built-in ``protocol``'s backbone, from the protocol's own base config.

    Never from a run's composed config: method leaves and ``--cfg-options`` change that
    config, and they must neither rebuild nor change the checkpoint every method shares.
    """
    from mmengine.config import Config

    import benchmark.plugins  # noqa: F401  (registers the datasets and transforms)
    from benchmark.pretrain.recipe import recipe_from_env
    from benchmark.protocols import synthetic_spec

    return build_plan(synthetic_spec(), Config.fromfile(protocol.base_config),
                      recipe_from_env())


def pretrained_root(data: SyntheticSpec, key: str) -> Path:
    """Cache folder of the checkpoint with fingerprint ``key``, beside the generated data sets
    (``SEMISEG_DATA``)."""
    return default_root(data).parent / f"pretrained-backbone-{key[:8]}"


def verify_checkpoint(folder: Path) -> PretrainedBackbone | None:
    """Return the cached checkpoint in ``folder`` if complete and intact, else None.

    A missing, incomplete or corrupt cache gives None; the caller rebuilds it.
    """
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        path = folder / CHECKPOINT_FILE
        if file_sha256(path) != meta["sha256"]:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return PretrainedBackbone(path=path, sha256=meta["sha256"], meta=meta)


@contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_pretrained_backbone(target: SyntheticSpec, protocol_cfg, recipe: PretrainRecipe,
                               stream=CONSOLE) -> PretrainedBackbone:
    """Return the pretrained backbone for ``protocol_cfg``'s network.

    The shipped asset when recipe, pretraining data and network are the asset's (its
    fingerprint); otherwise the checkpoint built once on this machine and cached.

    Args:
        target: The benchmark data set's spec (its classes are excluded from pretraining).
        protocol_cfg: The protocol's MMEngine config (network, pipeline, optimiser).
        recipe: Pretraining recipe.
        stream: Where progress and cache messages go (None: silent).

    Returns:
        The verified checkpoint.

    Raises:
        BenchmarkError: If the shipped asset fits but is missing or corrupt.
    """
    return _shipped_or_cached(build_plan(target, protocol_cfg, recipe), stream)


def _shipped_or_cached(plan: BuildPlan, stream) -> PretrainedBackbone:
    shipped = shipped_backbone(plan.key)
    if shipped is not None:
        return shipped
    return build_cached(plan.cache_folder, plan, console_stream(stream))


def build_cached(folder: Path, plan: BuildPlan, stream) -> PretrainedBackbone:
    """The checkpoint of ``plan`` cached in ``folder``, built first if missing or failing its
    checksum."""
    found = verify_checkpoint(folder)
    if found is not None:
        return found
    with _lock(folder.parent / f".{folder.name}.lock"):
        found = verify_checkpoint(folder)  # built by a concurrent run meanwhile
        if found is not None:
            return found
        if folder.exists() and stream is not None:
            stream.write(f"pretrained backbone in {folder} is incomplete or fails its "
                         "checksum; rebuilding it\n")
        _build(folder, plan, stream)
    found = verify_checkpoint(folder)
    if found is None:
        raise BenchmarkError(f"pretrained backbone in {folder} could not be verified after "
                             "building; delete the folder and retry")
    return found


def builtin_backbone(protocol, stream=CONSOLE) -> PretrainedBackbone:
    """The backbone of the built-in ``protocol`` (:func:`builtin_plan`).

    Args:
        protocol: The built-in :class:`~benchmark.protocols.Protocol`.
        stream: Where progress and cache messages go (None: silent).
    """
    return _shipped_or_cached(builtin_plan(protocol), stream)


def _build(folder: Path, plan: BuildPlan, stream) -> None:
    """Generate the pretraining set, train, and install ``folder`` atomically."""
    target, recipe, data, runner_cfg, key = (plan.target, plan.recipe, plan.data,
                                             plan.runner_cfg, plan.key)
    start = time.perf_counter()
    if stream is not None:
        stream.write(f"building a pretrained backbone ({recipe.iterations} "
                     f"iterations on {recipe.num_images} generated images of "
                     f"{len(data.object_classes)} other classes) into {folder}\n")
    data_root = materialize(default_root(data), data, progress=_data_progress(stream))
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    try:
        runner = _build_runner(runner_cfg, data_root, tmp / "work", stream)
        # a fixed thread count: CPU kernels split reductions by thread count, so only a fixed
        # count gives the same bytes on machines with different numbers of cores
        threads = torch.get_num_threads()
        torch.set_num_threads(PRETRAIN_THREADS)
        try:
            runner.train()
        finally:
            torch.set_num_threads(threads)
        state = {k: v.detach().cpu().clone()
                 for k, v in runner.model.backbone.state_dict().items()}
        meta = {
            "recipe": recipe.to_dict(),
            "fingerprint": key,
            "pretraining_data": {"root": str(data_root), "fingerprint": data.fingerprint(),
                                 "classes": ["_".join(pair) for pair in data.object_classes],
                                 "num_images": data.num_train, "seed": data.seed},
            "excluded_benchmark_classes": ["_".join(p) for p in target.object_classes],
            "backbone": runner_cfg["model"]["backbone"],
            "final_train_loss": runner.message_hub.get_scalar("train/loss").current()
            if "train/loss" in runner.message_hub.log_scalars else None,
            "build_seconds": round(time.perf_counter() - start, 1),
            "torch": torch.__version__,
        }
        torch.save({"state_dict": state, "meta": {"fingerprint": meta["fingerprint"]}},
                   tmp / CHECKPOINT_FILE)
        meta["sha256"] = file_sha256(tmp / CHECKPOINT_FILE)
        shutil.rmtree(tmp / "work", ignore_errors=True)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if stream is not None:
        stream.write(f"pretrained backbone ready in {time.perf_counter() - start:.0f} s: "
                     f"{folder / CHECKPOINT_FILE}\n")


def _data_progress(stream):
    if stream is None:
        return None

    def report(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            stream.write(f"\rgenerating the pretraining set: {done}/{total} images ")
            stream.flush()
            if done == total:
                stream.write("\n")
    return report


def pretraining_config(protocol_cfg, data: SyntheticSpec, recipe: PretrainRecipe) -> dict:
    """The Runner config (as a dict, without paths) that trains the backbone.

    A plain ``EncoderDecoder`` with the protocol's network (its backbone without
    ``init_cfg``, a head for the pretraining classes), labeled augmentation and optimiser
    (learning rate from the recipe). The dict is also what the cache key is made of, so a
    change of the protocol's network or pipeline builds a new checkpoint.
    """
    base = protocol_cfg
    segmentor = copy.deepcopy(base.model.segmentor.to_dict())
    segmentor["backbone"].pop("init_cfg", None)
    segmentor["decode_head"]["num_classes"] = data.num_classes
    preprocessor = copy.deepcopy(base.model.data_preprocessor.to_dict())
    preprocessor["type"] = "SegDataPreProcessor"
    segmentor["data_preprocessor"] = preprocessor
    optim_wrapper = copy.deepcopy(base.optim_wrapper.to_dict())
    optim_wrapper["optimizer"]["lr"] = recipe.lr
    return dict(
        default_scope="mmseg",
        custom_imports=dict(imports=["benchmark.plugins"], allow_failed_imports=False),
        model=segmentor,
        train_dataloader=dict(
            batch_size=recipe.batch_size,
            # loading 64 px images in the main process is cheaper than a worker competing
            # with the training threads for 2 cores
            num_workers=0,
            persistent_workers=False,
            sampler=dict(type="InfiniteSampler", shuffle=True),
            collate_fn=dict(type="pseudo_collate"),
            dataset=dict(type="SplitListDataset", split_lists=None, data_root=None,
                         metainfo=dict(classes=list(data.class_names),
                                       palette=[list(c) for c in data.palette]),
                         pipeline=copy.deepcopy(list(base.labeled_pipeline)))),
        optim_wrapper=optim_wrapper,
        param_scheduler=[dict(type="PolyLR", eta_min=0.0, power=0.9, begin=0,
                              end=recipe.iterations, by_epoch=False)],
        train_cfg=dict(type="IterBasedTrainLoop", max_iters=recipe.iterations,
                       val_interval=recipe.iterations + 1),
        default_hooks=dict(
            timer=dict(type="IterTimerHook"),
            logger=dict(type="LoggerHook", interval=100, log_metric_by_epoch=False),
            param_scheduler=dict(type="ParamSchedulerHook"),
            checkpoint=dict(type="CheckpointHook", interval=-1, save_last=False),
            sampler_seed=dict(type="DistSamplerSeedHook")),
        env_cfg=dict(cudnn_benchmark=False,
                     mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
                     dist_cfg=dict(backend="nccl")),
        log_processor=dict(by_epoch=False, window_size=20),
        randomness=dict(seed=recipe.seed, deterministic=True),
        log_level="WARNING",
    )


def _build_runner(runner_cfg: dict, data_root: Path, work_dir: Path, stream):
    """An MMEngine Runner for ``runner_cfg`` on the pretraining set at ``data_root``."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from benchmark.engine import RunProgressHook
    from benchmark.engine.console import file_logging

    cfg = Config(copy.deepcopy(runner_cfg), format_python_code=False)  # no 3 s yapf pass per dump
    cfg.train_dataloader.dataset.update(
        split_lists=[str(data_root / "splits" / "train.txt")], data_root=str(data_root))
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f"pretrain_{uuid.uuid4().hex[:8]}"
    runner = file_logging(Runner).from_cfg(cfg)
    runner.register_hook(RunProgressHook(label="pretraining backbone", interval=20,
                                         stream=stream))
    return runner
