"""Multi-process training through MMEngine's launcher (``torchrun ... --launcher pytorch``).

``torchrun`` starts one process per device; each runs the same ``run`` command. MMEngine
then wraps the model in DDP and shards the data. On CPU three adjustments are needed
(measured with MMEngine 0.10.7): its ``pytorch`` launcher calls ``torch.cuda.set_device``
unconditionally, so the gloo process group is initialised here before the Runner is built
(the Runner then skips its own init); the DDP wrapper must not get a CUDA device id; and
SyncBN (CUDA only) becomes BN (see :func:`benchmark.runs.protocol_settings.resolve_norm`).
Only rank 0 writes records and leaderboards and prints progress.
"""

from __future__ import annotations

import os

from mmengine.config import Config

LAUNCHERS = ("none", "pytorch")
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def launcher_problem(launcher: str, executor: str) -> str | None:
    """Why ``--launcher`` / ``--executor`` cannot be used as given, or None."""
    from benchmark.runs.cluster import SUBMITIT_EXECUTORS

    if executor not in ("inline", *SUBMITIT_EXECUTORS):
        return (f"--executor must be one of inline, {', '.join(SUBMITIT_EXECUTORS)}, "
                f"got '{executor}'")
    if launcher not in LAUNCHERS:
        return f"--launcher must be one of {', '.join(LAUNCHERS)}, got '{launcher}'"
    if launcher == "none":
        return None
    missing = [v for v in TORCHRUN_VARIABLES if v not in os.environ]
    if missing:
        return (f"--launcher {launcher} needs the variables torchrun sets ({', '.join(missing)} "
                "missing); start it as torchrun --nproc_per_node=N -m benchmark run ...")
    if executor != "inline":
        return (f"--launcher {launcher} trains one run over several processes; it cannot be "
                f"combined with --executor {executor} (drop one of them)")
    return None


def start_processes(launcher: str) -> None:
    """Join the process group of a ``pytorch`` launch on CPU (gloo); no-op otherwise.

    On CUDA the Runner initialises NCCL itself through MMEngine's launcher.
    """
    import torch
    import torch.distributed as dist

    if launcher == "pytorch" and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group(backend="gloo")


def apply_launcher(cfg: Config, launcher: str) -> None:
    """Set the Runner's launcher, backend and DDP wrapper (runtime entries, not hashed)."""
    import torch

    cfg.launcher = launcher
    if launcher == "none":
        return
    cuda = torch.cuda.is_available()
    env_cfg = cfg.setdefault("env_cfg", {})
    env_cfg.setdefault("dist_cfg", {})["backend"] = "nccl" if cuda else "gloo"
    if not cuda:
        cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None)


def is_main_process() -> bool:
    """True in a single-process run and on rank 0 of a multi-process one."""
    from mmengine.dist import get_rank

    return get_rank() == 0


def batch_warning(cfg: Config, world_size: int) -> str | None:
    """A warning line when the global batch or lr differ from the protocol's reference.

    The reference is what the composed config (protocol and method, before
    ``--cfg-options``) trains with on one process: ``reference_batch`` and
    ``reference_lr``. The global batch is the per-process batch times ``world_size``.
    """
    batch = int(cfg.train_dataloader.batch_size)
    lr = float(cfg.optim_wrapper.optimizer.lr)
    reference_batch = int(cfg.get("reference_batch", batch))
    reference_lr = float(cfg.get("reference_lr", lr))
    if batch * world_size == reference_batch:
        return None
    return (f"warning: global batch {batch * world_size} ({batch} per process x {world_size} "
            f"process(es)) at lr {lr:g} differs from the protocol's reference batch "
            f"{reference_batch} at lr {reference_lr:g}; results are not comparable with "
            "reference runs (the record carries global_batch and lr)")
