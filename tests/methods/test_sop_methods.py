"""SOP, its random-noise baseline and GT oracle, and UniMatch+SOP against docs/methods/."""

from __future__ import annotations

import pytest
import torch
from mmengine.config import Config

import methods.common.output_perturbation as perturbation_module
from benchmark.protocols import get_protocol
from benchmark.registry import get_method
from tests.conftest import build_model, build_run_config, real_batch
from tests.methods.fake_network import ce_map, patch_with_conv


def _num_classes(model) -> int:
    return model.student.decode_head.num_classes


def _setup(method, tmp_path, **options):
    cfg = build_run_config(method, tmp_path, **options)
    model = build_model(cfg)
    model.train()
    data = model.data_preprocessor(real_batch(cfg, batch_size=4, seed=1), True)
    return model, data["inputs"], data["data_samples"]


def _fixed_box_and_padding(inputs):
    """A box on every image, right padding on the main batch and bottom padding on the mix."""
    u, mix = inputs["unlabeled"], inputs["unlabeled_mix"]
    u.cutmix_boxes.zero_()
    u.cutmix_boxes[:, :, 8:40, 16:60] = 1
    u.pad_mask[:, :, 56:] = True
    mix.pad_mask[:, 48:, :] = True
    return u, mix


def _mixed(box, main, partner):
    box = box.bool()
    return torch.where(box if main.dim() == 3 else box[:, None], partner, main)


def _targets(logits):
    probs = logits.softmax(1)
    return probs.max(1).values, probs.argmax(1)


def _shifted(logits, pad_mask):
    """A fake perturbation: every valid pixel moves to the next class, pad keeps argmax."""
    label = logits.argmax(1)
    return torch.where(pad_mask, label, (label + 1) % logits.shape[1])


def _weighted_mean(ce, weight, valid):
    return (ce * weight * valid.float()).sum() / valid.sum()


class _Recorder:
    """Callable that records its arguments and returns ``fn(*args)``."""

    def __init__(self, fn):
        self.fn, self.calls, self.outputs = fn, [], []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        self.outputs.append(self.fn(*args, **kwargs))
        return self.outputs[-1]


def _fake_teacher(model, seed=5):
    torch.manual_seed(seed)
    teacher_conv = torch.nn.Conv2d(3, _num_classes(model), 1)
    teacher_conv.weight.data.mul_(3.0)

    def teacher_logits(inputs):
        with torch.no_grad():
            return teacher_conv(inputs)

    model.teacher_logits = teacher_logits
    return teacher_logits


# ---------------------------------------------------------------------------------- SOP


def test_sop_loss_matches_spec(tmp_path):
    model, inputs, samples = _setup("sop", tmp_path)
    conv = patch_with_conv(model)
    teacher = _fake_teacher(model)
    fake = _Recorder(lambda logits, pad, gt: _shifted(logits, pad))
    model.perturb = fake
    u, mix = _fixed_box_and_padding(inputs)
    losses = model.loss(inputs, samples)

    # the perturbation ran once, on the unmixed teacher maps of both batches, pad excluded
    assert len(fake.calls) == 1
    (logits_arg, pad_arg, gt_arg), _ = fake.calls[0]
    torch.testing.assert_close(logits_arg, torch.cat([teacher(u.weak), teacher(mix.weak)]))
    assert torch.equal(pad_arg, torch.cat([u.pad_mask, mix.pad_mask])) and gt_arg is None

    # hand computation of eq. 13-14
    box = u.cutmix_boxes[:, 0]
    conf, label = _targets(teacher(u.weak))
    conf_mix, label_mix = _targets(teacher(mix.weak))
    y_star = _mixed(box, _shifted(teacher(u.weak), u.pad_mask),
                    _shifted(teacher(mix.weak), mix.pad_mask))
    z = conv(_mixed(box, u.strong[0], mix.strong[0]))
    valid = _mixed(box, ~u.pad_mask, ~mix.pad_mask)
    weight = _mixed(box, conf, conf_mix) ** 2
    target = _mixed(box, label, label_mix)
    expected_mt = _weighted_mean(ce_map(z, target), weight, valid)
    expected_sop = _weighted_mean(ce_map(z, y_star), weight, valid)
    torch.testing.assert_close(losses["unsup.loss_mt"], 2.0 * expected_mt)
    torch.testing.assert_close(losses["unsup.loss_sop"], 2.0 * 0.25 * expected_sop)
    # L_x enters with weight 1: meanCE of the labeled crops
    gt = torch.stack([s.gt_sem_seg.data[0] for s in samples["labeled"]]).long()
    known = gt != 255
    expected_sup = (ce_map(conv(inputs["labeled"]), gt) * known).sum() / known.sum()
    torch.testing.assert_close(losses["sup.loss_ce"], expected_sup)

    # each element of the check matters: padding, weighting and the box change the value
    assert not torch.isclose(_weighted_mean(ce_map(z, target), weight, torch.ones_like(valid)),
                             expected_mt)
    assert not torch.isclose(_weighted_mean(ce_map(z, target), torch.ones_like(weight), valid),
                             expected_mt)
    unboxed = _weighted_mean(ce_map(z, _shifted(teacher(u.weak), u.pad_mask)), weight, valid)
    assert not torch.isclose(unboxed, expected_sop)
    # the diagnostic counts changed valid pixels of the main batch (all of them here)
    torch.testing.assert_close(losses["diag.changed_fraction"], torch.tensor(1.0))
    assert {"diag.pseudo_label_acc", "diag.perturbed_label_acc"} <= set(losses)


def test_sop_tau_zero_is_the_baseline_and_skips_the_perturbation(tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("tau = 0 must not compute the perturbation")

    model, inputs, samples = _setup("sop", tmp_path, **{"model.sop_weight": 0.0})
    conv = patch_with_conv(model)
    teacher = _fake_teacher(model)
    monkeypatch.setattr(perturbation_module, "sop_perturb", forbidden)
    model.perturb = forbidden
    u, mix = _fixed_box_and_padding(inputs)
    losses = model.loss(inputs, samples)
    assert "unsup.loss_sop" not in losses and "diag.changed_fraction" not in losses
    assert "diag.perturbed_label_acc" not in losses

    box = u.cutmix_boxes[:, 0]
    conf, label = _targets(teacher(u.weak))
    conf_mix, label_mix = _targets(teacher(mix.weak))
    z = conv(_mixed(box, u.strong[0], mix.strong[0]))
    valid = _mixed(box, ~u.pad_mask, ~mix.pad_mask)
    baseline = _weighted_mean(ce_map(z, _mixed(box, label, label_mix)),
                              _mixed(box, conf, conf_mix) ** 2, valid)
    unsup = sum(v for k, v in losses.items() if k.startswith("unsup.") and "loss" in k)
    torch.testing.assert_close(unsup, 2.0 * baseline)


def test_sop_real_perturbation_changed_fraction_and_gradients(tmp_path):
    model, inputs, samples = _setup("sop", tmp_path)
    assert model.teacher is not None and not model.teacher.training
    assert (model.ema_momentum, model.ema_buffers, model.predict_on) == (0.999, "ema", "teacher")
    assert model.sop_weight == 0.25 and not model.uses_hidden_gt
    record = _Recorder(model.perturb)
    model.perturb = record
    u = inputs["unlabeled"]
    u.pad_mask[:, :, 60:] = True
    losses = model.loss(inputs, samples)

    (teacher_logits, _, _), _ = record.calls[0]
    perturbed = record.outputs[0][:4]
    valid = ~u.pad_mask
    # padded pixels keep the perturbation's own argmax (of log-probabilities)
    kept = teacher_logits[:4].log_softmax(1).argmax(1)
    assert torch.equal(perturbed[~valid], kept[~valid])
    label = teacher_logits[:4].softmax(1).argmax(1)  # the method's pseudo-label
    changed = ((perturbed != label) & valid).sum() / valid.sum()
    assert 0 < float(changed) < 0.5
    torch.testing.assert_close(losses["diag.changed_fraction"], changed)
    # the perturbed term trains the student, never the teacher
    losses["unsup.loss_sop"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.student.parameters())
    assert all(p.grad is None for p in model.teacher.parameters())


def test_sop_oracle_reads_the_hidden_gt_only_when_asked(tmp_path, monkeypatch):
    seen = {}
    default, inputs, samples = _setup("sop", tmp_path)
    default_losses = default.compute_losses

    def spy(batch):
        seen["default"] = batch.oracle_gt
        return default_losses(batch)

    default.compute_losses = spy
    default.loss(inputs, samples)
    assert seen["default"] is None and not default.uses_hidden_gt

    oracle, inputs, samples = _setup("sop", tmp_path, **{"model.perturbation": "oracle"})
    assert oracle.uses_hidden_gt and "uses_hidden_gt" in vars(oracle)
    assert not type(oracle).uses_hidden_gt  # the class (and every normal run) stays blind
    assert oracle.sop_weight == 1.0  # tau = 1 for the oracle (SOP paper, appendix A.3)
    record = _Recorder(perturbation_module.oracle_target)
    monkeypatch.setattr(perturbation_module, "oracle_target", record)
    monkeypatch.setattr(perturbation_module, "sop_perturb", None)  # never the SOP target
    hidden = samples["hidden_gt"]
    torch.manual_seed(0)
    losses = oracle.loss(inputs, samples)
    (_, gt_arg, pad_arg), _ = record.calls[0]
    assert torch.equal(gt_arg, torch.cat([hidden["unlabeled"], hidden["unlabeled_mix"]]))
    u, mix = inputs["unlabeled"], inputs["unlabeled_mix"]
    assert torch.equal(pad_arg, torch.cat([u.pad_mask, mix.pad_mask]))
    # the GT really drives the target: another GT gives another perturbed loss
    for branch, gt in hidden.items():
        hidden[branch] = torch.where(gt == 255, gt, (gt + 1) % _num_classes(oracle))
    torch.manual_seed(0)
    scrambled = oracle.loss(inputs, samples)
    assert not torch.isclose(scrambled["unsup.loss_sop"], losses["unsup.loss_sop"])
    torch.testing.assert_close(scrambled["unsup.loss_mt"], losses["unsup.loss_mt"])


def test_sop_leaf_config_and_cityscapes_lambda():
    leaf = Config.fromfile(get_method("sop").config)
    assert leaf.model.unsup_weight == 2.0 and leaf.model.conf_power == 2.0
    assert leaf.model.ema_momentum == 0.999 and leaf.model.ema_buffers == "ema"
    noise = Config.fromfile(get_method("random_noise").config)
    for protocol in ("cityscapes", "cityscapes_u2pl"):
        dataset = get_protocol(protocol).dataset  # overrides are keyed by dataset family
        assert leaf.protocol_overrides[dataset].model.unsup_weight == 6.0
        assert noise.protocol_overrides[dataset].model.unsup_weight == 6.0
    assert "pascal" not in leaf.protocol_overrides  # lambda = 2 there


# ------------------------------------------------------------------------- random noise


@pytest.mark.parametrize("fraction", [0.0, 0.25])
def test_random_noise_changes_the_expected_fraction(tmp_path, fraction):
    model, inputs, samples = _setup("random_noise", tmp_path,
                                    **{"model.noise_fraction": fraction})
    patch_with_conv(model)
    teacher = _fake_teacher(model)
    record = _Recorder(model.perturb)
    model.perturb = record
    u, mix = _fixed_box_and_padding(inputs)
    torch.manual_seed(0)
    losses = model.loss(inputs, samples)

    (logits_arg, pad_arg, _), _ = record.calls[0]
    torch.testing.assert_close(logits_arg, torch.cat([teacher(u.weak), teacher(mix.weak)]))
    noisy = record.outputs[0]
    labels = logits_arg.argmax(1)
    valid = ~pad_arg
    changed = float(((noisy != labels) & valid).sum() / valid.sum())
    # a pixel of a repainted cell changes unless the uniform class equals its label
    expected = fraction * (1 - 1 / _num_classes(model))
    assert abs(changed - expected) < 0.03 and (changed == 0) == (fraction == 0)
    assert abs(float(losses["diag.changed_fraction"]) - expected) < 0.04
    assert torch.equal(noisy[~valid], labels[~valid])
    if fraction > 0:
        # the loss uses the noisy labels, mixed with the box
        box = u.cutmix_boxes[:, 0]
        conf = _mixed(box, *(_targets(teacher(x))[0] for x in (u.weak, mix.weak)))
        z = model.logits(model.student, _mixed(box, u.strong[0], mix.strong[0]))
        y_star = _mixed(box, noisy[:4], noisy[4:])
        expected_sop = _weighted_mean(ce_map(z, y_star), conf ** 2,
                                      _mixed(box, ~u.pad_mask, ~mix.pad_mask))
        torch.testing.assert_close(losses["unsup.loss_sop"], 2.0 * 0.25 * expected_sop)


def test_random_noise_has_no_oracle_mode(tmp_path):
    with pytest.raises(ValueError, match="no oracle"):
        _setup("random_noise", tmp_path, **{"model.perturbation": "oracle"})


# ------------------------------------------------------------------------ UniMatch + SOP


def _unimatch_sop_setup(tmp_path, **options):
    model, inputs, samples = _setup("unimatch_sop", tmp_path, **options)
    conv = patch_with_conv(model)
    scale = torch.linspace(0.5, 1.5, _num_classes(model)).view(1, -1, 1, 1)
    model.clean_and_perturbed_logits = lambda x: (conv(x), conv(x) * scale)
    fake = _Recorder(_shifted)
    model.sinkhorn = fake
    return model, inputs, samples, conv, scale, fake


def _unimatch_terms(inputs, conv, scale, mask_and_weight, tau):
    """Expected ``L'_fp``, ``L'_s1``, ``L'_s2`` of docs/methods/unimatch_sop.md (unweighted)."""
    u, mix = inputs["unlabeled"], inputs["unlabeled_mix"]
    with torch.no_grad():
        weak, weak_mix = conv(u.weak), conv(mix.weak)
    conf, label = _targets(weak)
    conf_mix, label_mix = _targets(weak_mix)
    y_star, y_star_mix = _shifted(weak, u.pad_mask), _shifted(weak_mix, mix.pad_mask)

    def term(z, label, y_star, conf, valid):
        factor = mask_and_weight(conf)
        return _weighted_mean(ce_map(z, label) + tau * ce_map(z, y_star), factor, valid)

    terms = [term(conv(u.weak) * scale, label, y_star, conf, ~u.pad_mask)]
    for k in range(2):
        box = u.cutmix_boxes[:, k]
        terms.append(term(conv(_mixed(box, u.strong[k], mix.strong[k])),
                          _mixed(box, label, label_mix), _mixed(box, y_star, y_star_mix),
                          _mixed(box, conf, conf_mix), _mixed(box, ~u.pad_mask, ~mix.pad_mask)))
    return terms


def test_unimatch_sop_terms_match_spec(tmp_path):
    model, inputs, samples, conv, scale, fake = _unimatch_sop_setup(tmp_path)
    u, mix = _fixed_box_and_padding(inputs)
    u.cutmix_boxes[:, 1] = 0
    u.cutmix_boxes[:, 1, 30:60, 0:20] = 1
    losses = model.loss(inputs, samples)

    # SOP ran once on the detached train-mode weak and the eval-mode mix maps, unmixed
    (logits_arg, pad_arg), _ = fake.calls[0]
    assert len(fake.calls) == 1 and not logits_arg.requires_grad
    torch.testing.assert_close(logits_arg, torch.cat([conv(u.weak), conv(mix.weak)]))
    assert torch.equal(pad_arg, torch.cat([u.pad_mask, mix.pad_mask]))

    fp, s1, s2 = _unimatch_terms(inputs, conv, scale, lambda conf: conf ** 2, 0.25)
    torch.testing.assert_close(losses["unsup.loss_fp"], fp / 4)
    torch.testing.assert_close(losses["unsup.loss_strong1"], s1 / 8)
    torch.testing.assert_close(losses["unsup.loss_strong2"], s2 / 8)
    assert not torch.isclose(s1, s2)  # the two boxes really differ
    assert "diag.mask_ratio" not in losses  # no threshold
    torch.testing.assert_close(losses["diag.changed_fraction"], torch.tensor(1.0))
    # gradient reaches the student's (fake) network through the unsupervised terms
    (losses["unsup.loss_fp"] + losses["unsup.loss_strong1"]).backward()
    assert conv.weight.grad.abs().sum() > 0


def test_unimatch_sop_threshold_variant(tmp_path):
    model, inputs, samples, conv, scale, _ = _unimatch_sop_setup(
        tmp_path, **{"model.keep_threshold": True, "model.conf_thresh": 0.6})
    _fixed_box_and_padding(inputs)
    losses = model.loss(inputs, samples)
    fp, s1, s2 = _unimatch_terms(inputs, conv, scale, lambda conf: (conf >= 0.6).float(), 0.25)
    torch.testing.assert_close(losses["unsup.loss_fp"], fp / 4)
    torch.testing.assert_close(losses["unsup.loss_strong1"], s1 / 8)
    assert 0 < float(losses["diag.mask_ratio"]) < 1  # the threshold really selects


def test_unimatch_sop_tau_zero_skips_sop(tmp_path, monkeypatch):
    model, inputs, samples, conv, scale, fake = _unimatch_sop_setup(
        tmp_path, **{"model.sop_weight": 0.0})
    monkeypatch.setattr(perturbation_module, "sop_perturb", None)
    _fixed_box_and_padding(inputs)
    losses = model.loss(inputs, samples)
    assert not fake.calls and "diag.changed_fraction" not in losses
    fp, s1, s2 = _unimatch_terms(inputs, conv, scale, lambda conf: conf ** 2, 0.0)
    torch.testing.assert_close(losses["unsup.loss_fp"], fp / 4)
    torch.testing.assert_close(losses["unsup.loss_strong2"], s2 / 8)


def test_unimatch_sop_perturbs_train_mode_weak_and_eval_mode_mix_maps(tmp_path):
    from methods.common.weak_to_strong import eval_mode_logits

    model, inputs, samples = _setup("unimatch_sop", tmp_path)
    record = _Recorder(model.sinkhorn)
    model.sinkhorn = record
    mix_weak = inputs["unlabeled_mix"].weak
    expected_mix = eval_mode_logits(model, model.student, mix_weak)  # before BN updates
    losses = model.loss(inputs, samples)
    (logits_arg, _), _ = record.calls[0]
    assert not logits_arg.requires_grad
    torch.testing.assert_close(logits_arg[4:], expected_mix)
    with torch.no_grad():
        train_mode = model.logits(model.student, mix_weak)
    assert not torch.allclose(logits_arg[4:], train_mode)  # BN batch statistics differ
    assert 0 < float(losses["diag.changed_fraction"]) < 0.5
    sum(v for k, v in losses.items() if k.startswith("unsup.")).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.student.parameters())


def test_sop_overhead_benchmark_times_both_variants():
    from benchmark.perf.sop_overhead import format_sop_overhead_report, run_sop_overhead

    threads = torch.get_num_threads()
    result = run_sop_overhead(steps=1, warmup=0, batch_size=2, num_threads=1)
    assert torch.get_num_threads() == threads  # restored
    assert result["sop_seconds"] > 0 and result["baseline_seconds"] > 0
    assert result["ratio"] == pytest.approx(result["sop_seconds"] / result["baseline_seconds"])
    assert result["batch_size"] == 2 and result["torch_threads"] == 1
    report = format_sop_overhead_report(result)
    assert f"{result['ratio']:.3f}" in report and "tau = 0 (no SOP)" in report


@pytest.mark.parametrize("tol", [1e-3, 0.0, 0.2, 0.1, 1.0])
def test_sinkhorn_single_class_shortcut_equals_the_full_batched_solve(tol):
    """Single-class problems answered in closed form leave every label and iterate unchanged."""
    from methods.ops.sinkhorn import _prepare, _solve, sinkhorn_reallocate

    generator = torch.Generator().manual_seed(0)
    n, rows, classes = 12, 40, 5
    log_probs = (3 * torch.randn(n, rows, classes, generator=generator)).log_softmax(2)
    row_valid = torch.rand(n, rows, generator=generator) > 0.2
    row_valid[3] = False  # a problem without valid rows
    target = torch.rand(n, classes, generator=generator)
    target *= torch.rand(n, classes, generator=generator) > 0.3
    target[:, 0] += 0.1
    target[::2] = torch.nn.functional.one_hot(torch.arange(0, n, 2) % classes, classes).float()
    target = target / target.sum(1, keepdim=True)

    problem = _prepare(log_probs, row_valid, target, 0.05)
    _, columns, reference = _solve(problem, 0.05, 50, 20, tol)
    expected = torch.where(row_valid, problem.column_class.gather(1, columns), -1)
    labels, info = sinkhorn_reallocate(log_probs, row_valid, target, tol=tol)
    assert torch.equal(labels, expected)
    assert (info.iterations, info.converged) == (reference.iterations, reference.converged)
    assert info.allocation_error == pytest.approx(reference.allocation_error, abs=1e-6)
    assert info.marginal_error == pytest.approx(reference.marginal_error, abs=1e-5)
    torch.testing.assert_close(info.column_potential, reference.column_potential,
                               rtol=1e-5, atol=1e-4)
    single = ((target > 0).sum(1) == 1) & row_valid.any(1)
    assert int(single.sum()) == 6 and (labels[single] >= 0).any()
