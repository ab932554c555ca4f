"""Self-training rounds: schedule, sliding-window labelling, round data, persistence, resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import PolyLR
from mmengine.registry import init_default_scope
from PIL import Image

from benchmark.errors import BenchmarkError
from benchmark.self_training import (
    LabelingSettings,
    PseudoLabeler,
    RoundPolyLR,
    labeling_settings,
    round_pipeline,
    split_iterations,
    teacher_probabilities,
)
from tests.conftest import build_model, build_run_config


def test_rounds_split_the_schedule():
    assert split_iterations(60, [1 / 3] * 3) == [20, 20, 20]
    assert split_iterations(10, [1 / 3] * 3) == [3, 4, 3]
    assert split_iterations(100, [1.0, 1.0]) == [100, 100]
    with pytest.raises(BenchmarkError):
        split_iterations(2, [1 / 3] * 3)


def _optimizer(lrs=(0.1, 1.0)):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])


def _lr_trace(scheduler_cls, steps, **kwargs):
    optimizer = _optimizer()
    scheduler = scheduler_cls(optimizer, by_epoch=False, **kwargs)
    trace = []
    for _ in range(steps):
        trace.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return trace


def test_round_poly_lr_restarts_per_round():
    rounds = [(0, 5, 1.0), (5, 4, 0.5**0.9)]
    trace = _lr_trace(RoundPolyLR, 9, rounds=rounds, power=0.9, end=9)
    for step, values in enumerate(trace):
        start, length, factor = rounds[0] if step < 5 else rounds[1]
        expected = factor * (1 - (step - start) / (length - 1)) ** 0.9
        assert values == pytest.approx([0.1 * expected, 1.0 * expected])
    # one round at factor 1 is MMEngine's PolyLR
    single = _lr_trace(RoundPolyLR, 7, rounds=[(0, 7, 1.0)], power=0.9, end=7)
    poly = _lr_trace(PolyLR, 7, power=0.9, eta_min=0.0, end=7)
    for ours, theirs in zip(single, poly):
        assert ours == pytest.approx(theirs)


def _column_logits(x):
    """A position-dependent 'network': channel 0 is the column inside the input, channel 1 zero."""
    width = x.shape[-1]
    column = torch.arange(width, dtype=torch.float32).view(1, 1, 1, width).expand(
        x.shape[0], 1, x.shape[-2], width)
    return torch.cat([column, torch.zeros_like(column)], dim=1)


def test_labeller_averages_window_softmax_over_the_windows_and_flips():
    image = torch.zeros(1, 3, 4, 10)
    settings = LabelingSettings(mode="slide", window=(4, 4), stride_ratio=2 / 3,
                                window_rule="official")
    out = teacher_probabilities(_column_logits, image, settings)[0, 0, 0]
    # stride ceil(2/3 * 4) = 3, windows clipped at the border: [0,4) [3,7) [6,10) [9,10)
    windows = ((0, 4), (3, 7), (6, 10), (9, 10))
    expected = []
    for x in range(10):
        covering = [s for s, e in windows if s <= x < e]
        expected.append(sum(1 / (1 + math.exp(-(x - s))) for s in covering) / len(covering))
    torch.testing.assert_close(out, torch.tensor(expected))
    flipped = teacher_probabilities(_column_logits, image, LabelingSettings(
        mode="slide", window=(4, 4), stride_ratio=2 / 3, flip=True,
        window_rule="official"))[0, 0, 0]
    # a window of width w gives (c + w - 1 - c) / 2 everywhere: 1.5, and 0 in [9,10)
    sig = 1 / (1 + math.exp(-1.5))
    torch.testing.assert_close(flipped, torch.tensor([sig] * 9 + [(sig + 0.5) / 2]))
    whole = teacher_probabilities(_column_logits, image, LabelingSettings(mode="whole"))
    torch.testing.assert_close(whole[0, 0, 0], torch.arange(10.0).sigmoid())
    mmseg = teacher_probabilities(_column_logits, image, LabelingSettings(
        mode="slide", window=(4, 4), stride_ratio=2 / 3, window_rule="mmseg"))[0, 0, 0]
    unset = teacher_probabilities(_column_logits, image, LabelingSettings(
        mode="slide", window=(4, 4), stride_ratio=2 / 3))[0, 0, 0]
    torch.testing.assert_close(unset, mmseg)  # no rule and no network: MMSeg's
    shifted = ((0, 4), (3, 7), (6, 10))  # MMSeg places 3 windows: 10 = 4 + 2 strides
    expected = [sum(1 / (1 + math.exp(-(x - s))) for s, e in shifted if s <= x < e)
                / sum(1 for s, e in shifted if s <= x < e) for x in range(10)]
    torch.testing.assert_close(mmseg, torch.tensor(expected))


def test_an_image_smaller_than_the_window_is_one_window_without_padding():
    out = teacher_probabilities(_column_logits, torch.zeros(1, 3, 4, 2),
                                LabelingSettings(mode="slide", window=(4, 4)))
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.0, 1.0]).sigmoid())


def test_unknown_window_rule_is_refused():
    with pytest.raises(ValueError, match="unknown sliding-window rule 'clip'.*official, mmseg"):
        LabelingSettings(mode="slide", window=(4, 4), window_rule="clip")


def test_round_pipeline_sets_scale_extra_steps_and_entropy(tmp_path):
    cfg = build_run_config("dars", tmp_path)
    base = cfg.train_dataloader.dataset.labeled.pipeline
    blur = dict(type="RandomGaussianBlur", prob=0.5, kernel_size=5)
    steps = round_pipeline(base, (0.5, 1.5), [blur])
    kinds = [s["type"] for s in steps]
    assert kinds[kinds.index("RandomLongSideResize") + 1] == "RandomGaussianBlur"
    assert steps[kinds.index("RandomLongSideResize")]["ratio_range"] == (0.5, 1.5)
    pseudo = [s["type"] for s in round_pipeline(base, pseudo_labeled=True, entropy=True)]
    assert pseudo[pseudo.index("LoadAnnotations") + 1] == "LoadEntropyMap"
    assert pseudo[-1] == "PackPseudoLabeledInputs"
    assert [s["type"] for s in base] == [s["type"] for s in round_pipeline(base)]


def test_entropy_map_stays_aligned_with_the_pseudo_label(tmp_path):
    from mmengine.dataset import Compose

    init_default_scope("mmseg")
    cfg = build_run_config("upc", tmp_path)
    rotate = dict(type="RandomRotate", prob=1.0, degree=10, pad_val=0, seg_pad_val=255)
    pipeline = Compose(round_pipeline(cfg.train_dataloader.dataset.labeled.pipeline,
                                      (0.5, 2.0), [rotate], pseudo_labeled=True, entropy=True))
    ys, xs = np.mgrid[0:40, 0:48]
    label = ((xs + 2 * ys) % 4).astype(np.uint8)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), np.uint8)).save(
        tmp_path / "image.png")
    Image.fromarray(label).save(tmp_path / "000000.png")
    np.savez_compressed(tmp_path / "000000.entropy.npz",
                        entropy=(label / 10 + 0.01).astype(np.float16))
    flips = padded = 0
    for seed in range(12):
        np.random.seed(seed)
        packed = pipeline(dict(img_path=str(tmp_path / "image.png"),
                               seg_map_path=str(tmp_path / "000000.png"),
                               reduce_zero_label=False, seg_fields=[]))
        sample = packed["data_samples"]
        gt = sample.gt_sem_seg.data[0].long()
        entropy = sample.entropy_map.data[0]
        known = gt != 255
        assert bool(known.any())
        padded += int(bool((~known).any()))
        assert torch.equal(torch.round((entropy[known] - 0.01) * 10).long(), gt[known])
        assert bool((entropy[~known] == 0).all())
        flips += int(sample.metainfo.get("flip", False))
    assert 0 < flips < 12 and padded > 0


def test_labeler_stores_teacher_argmax_and_entropy_and_reuses_them(tmp_path):
    init_default_scope("mmseg")
    cfg = build_run_config("upc", tmp_path)
    model = build_model(cfg)
    source = cfg.train_dataloader.dataset
    settings = labeling_settings(cfg.train_cfg.labeling, source.labeled.pipeline)
    assert settings.window == (64, 64) and settings.store_entropy and not settings.flip
    labeler = PseudoLabeler(tmp_path / "st", source.labeled, source.unlabeled, settings)
    labels = labeler.generate(1, model, model.select_pseudo_labels, {}, seed=0)
    assert labeler.generated_rounds == [1] and labels.has_entropy
    assert set(labels.diagnostics) >= {"kl", "kl_argmax", "pseudo_fraction", "pseudo_acc"}
    assert labels.diagnostics["pseudo_fraction"] == 1.0  # plain self-training keeps all
    # image 0 again, directly: whole-image logits (64 px = one window)
    from mmengine.dataset import pseudo_collate

    model.eval()
    batch = model.data_preprocessor(pseudo_collate([labeler.images[0]]), False)
    with torch.no_grad():
        probs = model.logits(model.student, batch["inputs"]).softmax(1)[0]
    stored = torch.from_numpy(np.array(Image.open(labels.folder / "000000.png"))).long()
    assert torch.equal(stored, probs.argmax(0))
    with np.load(labels.folder / "000000.entropy.npz") as data:
        entropy = torch.from_numpy(data["entropy"].astype(np.float32))
    torch.testing.assert_close(entropy, torch.special.entr(probs).sum(0), atol=2e-3, rtol=1e-3)
    # a new labeler on the same folder finds the round instead of labelling again
    again = PseudoLabeler(tmp_path / "st", source.labeled, source.unlabeled, settings)
    assert again.load(1).diagnostics == labels.diagnostics and again.generated_rounds == []
    other = dict(source.labeled)  # a different "unlabeled" list is refused
    with pytest.raises(BenchmarkError, match="another unlabeled list"):
        PseudoLabeler(tmp_path / "st", source.labeled, other, settings).load(1)


class Recorder(Hook):
    """Records, before every iteration, the lr, the batch layout and a student weight."""

    priority = "LOWEST"

    def __init__(self):
        self.lr, self.layout, self.weight, self.optimizer_state = {}, {}, {}, {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = runner.model
        self.lr[runner.iter] = runner.optim_wrapper.optimizer.param_groups[0]["lr"]
        labeled = data_batch["labeled"]
        parts = labeled if isinstance(labeled, list) else [labeled]
        pseudo = data_batch.get("pseudo_labeled")
        self.layout[runner.iter] = (sum(len(p["inputs"]) for p in parts),
                                    len(pseudo["inputs"]) if pseudo else 0,
                                    bool(pseudo) and "entropy_map" in pseudo["data_samples"][0])
        self.weight[runner.iter] = next(model.student.parameters()).detach().clone()
        self.optimizer_state[runner.iter] = len(runner.optim_wrapper.optimizer.state)


def _runner(method, tmp_path, iters, **cfg_options):
    from benchmark.engine.resume import ResumableRunner
    from benchmark.runs.config_builder import set_iterations

    cfg = build_run_config(method, tmp_path, **cfg_options)
    set_iterations(cfg, iters)
    cfg.train_cfg.val_interval = iters
    cfg.log_level = "WARNING"
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.num_workers, loader.persistent_workers = 0, False
    cfg.default_hooks.checkpoint = dict(type="CheckpointHook", by_epoch=False, interval=3,
                                        max_keep_ckpts=-1, save_last=True)
    runner = ResumableRunner.from_cfg(cfg)  # resumes with the checkpoint allow-list
    recorder = Recorder()
    runner.register_hook(recorder)
    return runner, recorder


@pytest.mark.slow
def test_dars_rounds_labels_persist_and_resume_reuses_them(tmp_path):
    runner, recorder = _runner("dars", tmp_path, iters=6)
    stale = tmp_path / "work" / "self_training" / "round1"  # left by an earlier run
    stale.mkdir(parents=True)
    (stale / "summary.json").write_text('{"round": 1}')
    runner.train()
    loop = runner.train_loop
    assert loop.round_iters == [2, 2, 2] and loop.labeler.generated_rounds == [1, 2]
    assert [recorder.layout[i] for i in range(6)] == [(16, 0, False)] * 2 + [(8, 8, False)] * 4
    base = runner.cfg.optim_wrapper.optimizer.lr  # the protocol's lr_0 (backbone group)
    expected = [base, 0.0, base * 0.5**0.9, 0.0, base * (1 / 3)**0.9, 0.0]
    assert [recorder.lr[i] for i in range(6)] == pytest.approx(expected)
    diagnostics = runner.model.round_diagnostics
    for k in (1, 2):
        assert math.isfinite(diagnostics[f"round{k}_kl"])
        assert 0 < diagnostics[f"round{k}_pseudo_fraction"] <= 0.5 + 1e-9  # alpha 0.4, 0.5
    files = sorted((loop.labeler.root).rglob("*.png")) + sorted(loop.labeler.root.rglob("*.json"))
    stamps = {path: path.stat().st_mtime_ns for path in files}

    resumed, _ = _runner("dars", tmp_path, iters=6, resume=True,
                         load_from=str(tmp_path / "work" / "iter_3.pth"))
    resumed.train()
    assert resumed.train_loop.labeler.generated_rounds == []  # nothing labelled again
    assert {path: path.stat().st_mtime_ns for path in files} == stamps
    assert resumed.model.round_diagnostics == diagnostics


@pytest.mark.slow
def test_upc_reinitialises_the_student_and_trains_on_entropy_batches(tmp_path):
    runner, recorder = _runner("upc", tmp_path, iters=4)
    runner.train()
    assert runner.train_loop.round_iters == [2, 2]
    initial = recorder.weight[0]
    assert not torch.equal(recorder.weight[2 - 1], initial)  # round 0 trained
    assert torch.equal(recorder.weight[2], initial)  # round 1 starts from the initial weights
    assert recorder.optimizer_state[2] == 0 and recorder.optimizer_state[1] > 0
    assert recorder.layout[0] == (16, 0, False)
    assert recorder.layout[2] == (8, 4, True)
    assert recorder.lr[2] == pytest.approx(runner.cfg.optim_wrapper.optimizer.lr)
