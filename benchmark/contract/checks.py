"""The generic checks every method plugin must pass, on a real batch of the built-in protocol.

Each check takes the method's :class:`~benchmark.registry.MethodInfo` and its composed
config, builds what it needs and raises :class:`ContractViolation` naming what is wrong.
``tests/test_plugin_contract.py`` runs them on every registered method (a new built-in
method is covered without a new test); ``python -m benchmark check-plugin`` runs them on a
plugin outside the package and prints a verdict per check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from mmengine.config import Config

from benchmark.contract.fixtures import build_model, real_batch
from benchmark.models.semi_segmentor import SemiSegmentor, check_loss_terms
from benchmark.registry import MethodInfo


class ContractViolation(AssertionError):
    """A method breaks the plugin contract; the message says how."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


def training_losses(cfg: Config, seed: int = 0, batch: dict | None = None):
    """Build the model in train mode and compute its losses on a real batch.

    Returns:
        ``(model, preprocessed data, losses)``.
    """
    model = build_model(cfg)
    model.train()
    data = model.data_preprocessor(batch or real_batch(cfg, seed=seed), True)
    torch.manual_seed(seed)
    return model, data, model(**data, mode="loss")


def check_builds(info: MethodInfo, cfg: Config) -> None:
    """The config builds the method's class, a ``SemiSegmentor``."""
    model = build_model(cfg)
    _require(isinstance(model, info.cls) and isinstance(model, SemiSegmentor),
             f"the config builds {type(model).__name__}, not a SemiSegmentor "
             f"'{info.cls.__name__}'")


def check_losses_finite_and_named(info: MethodInfo, cfg: Config) -> None:
    """Keys are ``sup.loss_*``, ``unsup.loss_*`` or ``diag.*``; scalar, finite; a ``sup.`` one."""
    try:  # the segmentor checks keys and values in its forward pass already
        _, _, losses = training_losses(cfg)
        check_loss_terms(losses, info.cls.__name__)
    except ValueError as err:
        raise ContractViolation(str(err)) from err
    loss_keys = [k for k in losses if "loss" in k]
    _require(bool(loss_keys), "the method returns no loss")
    _require(any(k.startswith("sup.") for k in loss_keys), "no supervised 'sup.loss_*' term")
    bad = [k for k, v in losses.items() if not torch.isfinite(torch.as_tensor(v)).all()]
    _require(not bad, f"non-finite values at initialisation: {', '.join(bad)}")


def check_unsupervised_loss_trains_student(info: MethodInfo, cfg: Config) -> None:
    """The ``unsup.loss_*`` terms send gradient to the student and none to the teacher."""
    model, _, losses = training_losses(cfg)
    unsup = [v for k, v in losses.items() if k.startswith("unsup.") and "loss" in k]
    if not info.needs_unlabeled:
        _require(not unsup, "needs_unlabeled=False but the method returns unsup.loss_* terms")
        return
    _require(bool(unsup), "the method trains on unlabeled data but returns no unsup.loss_*")
    total = sum(unsup)
    _require(total.requires_grad, "the unsupervised loss does not reach the student "
             "(computed under no_grad or from detached logits?)")
    total.backward()
    grads = [p.grad for p in model.student.parameters() if p.requires_grad]
    # the graph must reach the student (USB's no-grad student bug fails here); a threshold
    # may select nothing at initialisation, so the loss itself can be exactly zero
    _require(any(g is not None for g in grads),
             "the unsupervised loss does not reach the student (computed under no_grad?)")
    if float(total.detach()) > 0:
        _require(any(g is not None and g.abs().sum() > 0 for g in grads),
                 "the unsupervised loss is positive but gives the student zero gradient")
    if model.teacher is not None:
        _require(all(p.grad is None for p in model.teacher.parameters()),
                 "the teacher received gradient")
        _require(not any(p.requires_grad for p in model.teacher.parameters()),
                 "teacher parameters require grad")


def check_optimizer_trains_student_only(info: MethodInfo, cfg: Config) -> None:
    """The config's optimiser holds every trainable student parameter and no teacher one."""
    import logging

    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper

    model = build_model(cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # one "skipped, requires_grad=False" line per teacher tensor
    try:
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    finally:
        logger.setLevel(level)
    optimised = {id(p) for group in wrapper.optimizer.param_groups for p in group["params"]}
    student = [p for p in model.student.parameters() if p.requires_grad]
    _require(all(id(p) in optimised for p in student),
             "some trainable student parameters are not in the optimiser")
    if model.teacher is not None:
        _require(not any(id(p) in optimised for p in model.teacher.parameters()),
                 "the optimiser updates teacher parameters (the EMA hook owns them)")


def check_teacher_mode_survives_train_calls(info: MethodInfo, cfg: Config) -> None:
    """``model.train()`` (called by MMEngine every iteration) keeps the teacher's declared mode."""
    model = build_model(cfg)
    model.train()
    if model.teacher is None:
        _require(model.student.training, "model.train() left the student in eval mode")
        return
    mode = "train" if model.teacher.training else "eval"
    _require(model.teacher.training == model.teacher_train_mode,
             f"after model.train() the teacher is in {mode} mode, declared "
             f"teacher_train_mode={model.teacher_train_mode}")
    model.eval()
    _require(not model.teacher.training and not model.student.training,
             "model.eval() left a network in train mode")


def check_hidden_ground_truth_unused(info: MethodInfo, cfg: Config) -> None:
    """Scrambling the unlabeled images' hidden ground truth changes no loss."""
    if not info.needs_unlabeled:
        return
    batch = real_batch(cfg)
    model = build_model(cfg)
    _require(not model.uses_hidden_gt, "only oracle diagnostics may set uses_hidden_gt")
    model.train()
    data = model.data_preprocessor(batch, True)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)
    reference = model(**data, mode="loss")
    for branch, gt in data["data_samples"]["hidden_gt"].items():
        data["data_samples"]["hidden_gt"][branch] = torch.randint_like(gt, 0, 4)
    model.load_state_dict(state)
    torch.manual_seed(0)
    scrambled = model(**data, mode="loss")
    changed = [k for k, v in reference.items()
               if "loss" in k and not torch.allclose(scrambled[k], v)]
    _require(not changed, f"losses depend on the unlabeled ground truth: {', '.join(changed)}")


def check_predict(info: MethodInfo, cfg: Config) -> None:
    """Evaluation works: one validation image gives a label map of its size and classes."""
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import DATASETS

    model = build_model(cfg)
    model.eval()
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    with torch.no_grad():
        (sample,) = model.test_step(pseudo_collate([dataset[0]]))
    prediction = sample.pred_sem_seg.data
    height, width = sample.ori_shape
    _require(tuple(prediction.shape[-2:]) == (height, width),
             f"prediction {tuple(prediction.shape)} does not match the image {height}x{width}")
    classes = cfg.model.segmentor.decode_head.num_classes
    _require(int(prediction.min()) >= 0 and int(prediction.max()) < classes,
             f"predicted labels outside 0..{classes - 1}")


Check = Callable[[MethodInfo, Config], None]
#: (name, check) in the order ``check-plugin`` runs them.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("builds", check_builds),
    ("losses finite and named", check_losses_finite_and_named),
    ("unsupervised loss trains the student, not the teacher",
     check_unsupervised_loss_trains_student),
    ("optimiser trains the student only", check_optimizer_trains_student_only),
    ("teacher mode survives train()", check_teacher_mode_survives_train_calls),
    ("hidden ground truth never changes a loss", check_hidden_ground_truth_unused),
    ("predict", check_predict),
)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: ``passed`` and, when it failed, why."""

    check: str
    passed: bool
    reason: str = ""


def run_checks(info: MethodInfo, cfg: Config) -> list[Verdict]:
    """Run every check on ``info`` with its composed ``cfg``; never raises for a failure."""
    verdicts = []
    for name, check in CHECKS:
        try:
            check(info, cfg)
        except ContractViolation as err:
            verdicts.append(Verdict(name, False, str(err)))
        except Exception as err:  # noqa: BLE001 - a crashing plugin fails the check
            first_line = (str(err).splitlines() or [""])[0]
            verdicts.append(Verdict(name, False, f"{type(err).__name__}: {first_line}"))
        else:
            verdicts.append(Verdict(name, True))
    return verdicts
