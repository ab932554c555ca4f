"""U2PL: its operators against numpy / hand computations, its memory bank, its method wiring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from methods.ops.memory_bank import ClassMemoryBank
from methods.ops.u2pl import (
    alpha_schedule,
    class_contrastive_loss,
    class_ranks,
    contrastive_loss,
    entropy_split,
    negative_masks,
    next_image_partner,
    percentile,
    pixel_entropy,
    reliable_pseudo_label_loss,
    u2pl_cutmix_boxes,
)
from tests.conftest import build_model, build_run_config, real_batch

# ------------------------------------------------------------------ entropy split


@pytest.mark.parametrize("q", [0.0, 3.7, 20.0, 50.0, 80.0, 99.5, 100.0])
def test_percentile_equals_numpy_linear(q):
    values = torch.from_numpy(np.random.default_rng(0).gamma(2.0, size=(3, 7, 11)))
    expected = np.percentile(values.numpy(), q)
    assert percentile(values, q).item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_entropy_threshold_equals_numpy_percentile_over_valid_pixels():
    rng = np.random.default_rng(1)
    probs = torch.from_numpy(rng.dirichlet(np.ones(5), size=(2, 6, 9))).permute(0, 3, 1, 2)
    entropy = pixel_entropy(probs)
    valid = torch.ones(2, 6, 9, dtype=torch.bool)
    valid[1, :, 6:] = False          # padding: excluded from the percentiles
    entropy[~valid] = 100.0          # values that would move any threshold if counted
    alpha = alpha_schedule(20.0, 0.25)   # 15 %
    split = entropy_split(entropy, valid, alpha)
    kept = entropy[valid].numpy()
    high, low = np.percentile(kept, 100 - alpha), np.percentile(kept, alpha)
    assert split.high_threshold.item() == pytest.approx(high, rel=1e-12)
    assert split.low_threshold.item() == pytest.approx(low, rel=1e-12)
    assert torch.equal(split.unreliable, (entropy >= float(high)) & valid)
    assert torch.equal(split.reliable, (entropy <= float(low)) & valid)
    # linear interpolation: every value from order statistic ceil((1 - alpha) (n - 1)) on
    n = kept.size
    assert split.unreliable.sum().item() == n - math.ceil((1 - alpha / 100) * (n - 1))


def test_pixel_entropy_and_alpha_schedule_by_hand():
    probs = torch.tensor([0.5, 0.25, 0.25, 0.0]).view(1, 4, 1, 1)
    expected = -(0.5 * math.log(0.5 + 1e-10) + 2 * 0.25 * math.log(0.25 + 1e-10))
    assert pixel_entropy(probs).item() == pytest.approx(expected, rel=1e-6)
    assert alpha_schedule(20.0, 0.0) == 20.0
    assert alpha_schedule(20.0, 0.5) == 10.0
    assert alpha_schedule(20.0, 1.0) == 0.0


def test_reliable_pseudo_label_loss_is_code_reweighted_mean():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 2, 3)
    target = torch.randint(0, 3, (2, 2, 3))
    valid = torch.ones(2, 2, 3, dtype=torch.bool)
    valid[1, 1, 2] = False
    unreliable = torch.zeros(2, 2, 3, dtype=torch.bool)
    unreliable[0, 0, :2] = True
    ce = F.cross_entropy(logits, target, reduction="none")
    kept = valid & ~unreliable                       # 12 - 1 padded - 2 unreliable = 9
    expected = (11 / 9) * ce[kept].mean()
    got = reliable_pseudo_label_loss(logits, target, unreliable, valid)
    torch.testing.assert_close(got, expected)


# ------------------------------------------------------------------ ranks and negatives


def test_class_ranks_by_hand_with_ties_to_lower_index():
    probs = torch.tensor([0.1, 0.3, 0.05, 0.3, 0.25]).view(1, 5, 1, 1)
    assert class_ranks(probs).flatten().tolist() == [3, 0, 4, 1, 2]


def test_negative_masks_select_exactly_the_ranks_between_rl_and_rh():
    rng = np.random.default_rng(2)
    num_classes, low_rank, high_rank = 7, 2, 5
    probs_np = rng.dirichlet(np.ones(num_classes), size=(3, 4, 5))      # [B, h, w, C]
    probs = torch.from_numpy(probs_np).permute(0, 3, 1, 2)
    labels = torch.from_numpy(rng.integers(0, num_classes, size=(3, 4, 5)))
    labels[0, 0, 0] = 255
    unreliable = torch.from_numpy(rng.random((3, 4, 5)) < 0.5)
    masks = negative_masks(labels, unreliable, class_ranks(probs), num_labeled=1,
                           low_rank=low_rank, high_rank=high_rank)
    for b in range(3):
        for i in range(4):
            for j in range(5):
                order = list(np.argsort(-probs_np[b, i, j], kind="stable"))
                if b == 0:   # labeled: wrong but among the top r_l (none where ignored)
                    label = int(labels[b, i, j])
                    expected = set() if label == 255 else set(order[:low_rank]) - {label}
                else:        # unlabeled: ranks [r_l, r_h) of unreliable pixels only
                    expected = set(order[low_rank:high_rank]) if unreliable[b, i, j] else set()
                got = {c for c in range(num_classes) if masks[b, c, i, j]}
                assert got == {int(c) for c in expected}, (b, i, j)


# ------------------------------------------------------------------ memory bank


def test_fifo_keeps_the_newest_entries_at_capacity():
    bank = ClassMemoryBank([5, 3], dim=2)
    stream = torch.arange(14, dtype=torch.float32).view(7, 2)   # row k = (2k, 2k+1)
    bank.push(0, stream[:3])
    assert bank.size(0) == 3 and bank.size(1) == 0
    bank.push(0, stream[3:7])
    stored = {tuple(row.tolist()) for row in bank.features(0)}
    assert stored == {tuple(row.tolist()) for row in stream[2:7]}     # the newest 5
    bank.push(1, stream)                                               # more than capacity
    assert {tuple(r.tolist()) for r in bank.features(1)} == {tuple(r.tolist()) for r in stream[4:]}
    bank.push(0, stream[:0])
    assert bank.size(0) == 5
    drawn = bank.sample(0, 50)
    assert {tuple(r.tolist()) for r in drawn} <= stored
    assert bank.fill_ratio() == 1.0


def test_empty_bank_cannot_be_sampled():
    with pytest.raises(ValueError, match="empty"):
        ClassMemoryBank([4], dim=3).sample(0, 2)


# ------------------------------------------------------------------ contrastive losses


def _cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _features():
    rng = np.random.default_rng(3)
    return rng.normal(size=(2, 3)), rng.normal(size=3), rng.normal(size=(2, 4, 3))


def test_infonce_equals_hand_computation():
    anchors, positive, negatives = _features()
    tau = 0.5
    per_anchor = []
    for i in range(2):
        pos = math.exp(_cos(anchors[i], positive) / tau)
        neg = sum(math.exp(_cos(anchors[i], n) / tau) for n in negatives[i])
        per_anchor.append(-math.log(pos / (pos + neg)))
    got = contrastive_loss(*(torch.from_numpy(x) for x in (anchors, positive, negatives)),
                           temperature=tau, kind="infonce")
    assert got.item() == pytest.approx(np.mean(per_anchor), rel=1e-10)


def test_binary_loss_equals_supplement_eq1_by_hand():
    anchors, positive, negatives = _features()
    tau = 0.5
    terms = []
    for i in range(2):
        pos = math.exp(_cos(anchors[i], positive) / tau)
        for n in negatives[i]:
            terms.append(-math.log(pos / (pos + math.exp(_cos(anchors[i], n) / tau))))
    got = contrastive_loss(*(torch.from_numpy(x) for x in (anchors, positive, negatives)),
                           temperature=tau, kind="binary")
    assert got.item() == pytest.approx(np.mean(terms), rel=1e-10)


def test_class_loss_averages_over_valid_classes():
    # 2 x 2 map: class 0 on the left column, class 1 on the right; identical features per
    # class make the random anchor / negative draws irrelevant
    a0, a1, t0, n0 = (torch.tensor(v, dtype=torch.float64) for v in
                      ([1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]))
    student = torch.stack([a0, a1]).T.reshape(1, 2, 1, 2).expand(1, 2, 2, 2).contiguous()
    teacher = torch.stack([t0, t0]).T.reshape(1, 2, 1, 2).expand(1, 2, 2, 2).contiguous()
    labels = torch.tensor([[[0, 1], [0, 1]]])
    probs = torch.tensor([0.9, 0.05, 0.05]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    candidates = torch.ones(1, 2, 2, dtype=torch.bool)
    bank = ClassMemoryBank([4, 4, 4], dim=2)
    bank.push(0, n0.view(1, 2).float())
    bank = bank.double()
    loss, num_valid = class_contrastive_loss(student, teacher, probs, labels, candidates, bank,
                                             num_anchors=3, num_negatives=2,
                                             anchor_threshold=0.3, temperature=0.5)
    # class 0: anchors a0, positive t0, two copies of n0; class 1 has no anchor
    # (p_1 = 0.05 < delta_p) and counts as valid with 0; class 2 has no pixel
    pos = math.exp(_cos(a0.numpy(), t0.numpy()) / 0.5)
    neg = math.exp(_cos(a0.numpy(), n0.numpy()) / 0.5)
    assert num_valid == 2
    assert loss.item() == pytest.approx(-math.log(pos / (pos + 2 * neg)) / 2, rel=1e-10)
    single, num_valid = class_contrastive_loss(student, teacher, probs, torch.zeros_like(labels),
                                               candidates, bank, 3, 2, 0.3, 0.5)
    assert num_valid == 1 and single.item() == 0.0


def test_cutmix_box_is_half_the_crop_and_partner_is_next_image():
    torch.manual_seed(0)
    boxes = u2pl_cutmix_boxes(16, 64, 64)
    for box in boxes:
        rows, cols = box.nonzero(as_tuple=True)
        height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert 33 <= width <= 63 and height == round(2048 / width)
        assert box.sum().item() == height * width                      # one rectangle
    assert next_image_partner(4).tolist() == [1, 2, 3, 0]


# ------------------------------------------------------------------ the method


@pytest.fixture()
def u2pl_setup(tmp_path):
    def make(**options):
        cfg = build_run_config("u2pl", tmp_path, **options)
        model = build_model(cfg)
        model.train()
        data = model.data_preprocessor(real_batch(cfg), True)
        return model, data
    return make


def test_representation_head_reads_decoder_features_without_changing_the_head(u2pl_setup):
    model, data = u2pl_setup()
    model.eval()
    images = data["inputs"]["labeled"]
    raw, rep = model.logits_and_features(model.student, images)
    torch.testing.assert_close(raw, model.raw_logits(model.student, images))
    assert rep.shape == (images.shape[0], 32, *raw.shape[-2:])      # stride 4, width 32
    assert "student.decode_head.rep_head.4.weight" in dict(model.named_parameters())
    calls = []
    model.student.decode_head.rep_head.register_forward_hook(lambda *_: calls.append(1))
    model.teacher.decode_head.rep_head.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        model._forward(images)
    assert not calls and model.eval_network is model.teacher


def test_contrastive_loss_trains_student_representation_only(u2pl_setup):
    model, data = u2pl_setup(**{"model.anchor_threshold": 0.0, "model.cutmix_prob": 0.0})
    torch.manual_seed(0)
    losses = model(**data, mode="loss")
    assert losses["unsup.loss_contrast"].item() > 0
    assert model.memory_bank.count.sum() > 0
    losses["unsup.loss_contrast"].backward()
    rep_head = model.student.decode_head.rep_head
    for layer in (rep_head[0].conv, rep_head[2].conv, rep_head[4]):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())


def test_binary_alternative_replaces_infonce(u2pl_setup):
    values = {}
    for kind in ("infonce", "binary"):
        model, data = u2pl_setup(**{"model.anchor_threshold": 0.0, "model.contrast_loss": kind})
        torch.manual_seed(0)
        values[kind] = model(**data, mode="loss")["unsup.loss_contrast"].item()
    assert values["binary"] > 0 and values["infonce"] > 0
    assert values["binary"] != pytest.approx(values["infonce"])


def test_warm_start_trains_supervised_only_then_restarts_the_teacher(u2pl_setup, monkeypatch):
    from benchmark.models import SemiSegmentor

    model, data = u2pl_setup()
    model.set_train_progress(0, 800)                  # warm start: round(800 / 80) = 10
    assert model.warm_start_iterations() == 10 and model.eval_network is model.student
    losses = model(**data, mode="loss")
    assert losses["diag.warm_start"].item() == 1.0
    assert losses["unsup.loss_pseudo"].item() == 0 and losses["unsup.loss_contrast"].item() == 0
    assert model.memory_bank.count.sum() == 0

    steps = []
    monkeypatch.setattr(SemiSegmentor, "update_teacher", lambda self, it: steps.append(it))
    model.update_teacher(9)                           # no EMA during the warm start
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(0.01)
    model.set_train_progress(10, 800)                 # t_0: teacher = copy of the student
    for (name, t), s in zip(model.teacher.state_dict().items(),
                            model.student.state_dict().values()):
        torch.testing.assert_close(t, s, msg=name)
    model.update_teacher(10)
    model.update_teacher(25)
    assert steps == [0, 15]                           # EMA warm-up counted from t_0
    assert model.eval_network is model.teacher
    assert model(**data, mode="loss")["diag.warm_start"].item() == 0.0


def test_memory_bank_round_trips_through_mmengine_checkpoint(u2pl_setup, tmp_path):
    from mmengine.runner.checkpoint import load_checkpoint, save_checkpoint, weights_to_cpu

    model, data = u2pl_setup(**{"model.anchor_threshold": 0.0})
    torch.manual_seed(0)
    model(**data, mode="loss")
    model(**data, mode="loss")
    bank_keys = [k for k in model.state_dict() if k.startswith("memory_bank.")]
    assert "memory_bank.queue_0" in bank_keys and "memory_bank.count" in bank_keys
    assert model.memory_bank.count.sum() > 0
    path = tmp_path / "u2pl.pth"
    save_checkpoint({"state_dict": weights_to_cpu(model.state_dict())}, str(path))

    restored, _ = u2pl_setup()
    assert restored.memory_bank.count.sum() == 0
    load_checkpoint(restored, str(path), map_location="cpu", strict=True)
    for key in bank_keys:
        torch.testing.assert_close(restored.state_dict()[key], model.state_dict()[key], msg=key)
    for c in range(model.memory_bank.num_classes):
        torch.testing.assert_close(restored.memory_bank.features(c), model.memory_bank.features(c))


def test_negatives_are_gathered_from_every_process(monkeypatch):
    import methods.u2pl as u2pl_module

    other = torch.arange(6.0).view(3, 2)             # what the second process holds
    monkeypatch.setattr(u2pl_module, "get_world_size", lambda: 2)

    def fake_all_gather(tensor):
        theirs = torch.tensor([3]) if tensor.dtype == torch.long else torch.zeros_like(tensor)
        if tensor.dtype != torch.long:
            theirs[:3] = other
        return [tensor, theirs]

    monkeypatch.setattr(u2pl_module, "all_gather", fake_all_gather)
    mine = torch.tensor([[10.0, 11.0]])
    torch.testing.assert_close(u2pl_module.gather_rows(mine), torch.cat([mine, other]))
