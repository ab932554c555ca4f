"""FixMatch, UniMatch, CutMix-Seg and CPS losses against hand computations (docs/methods/)."""

from __future__ import annotations

import torch

from tests.conftest import build_model, build_run_config, num_classes, real_batch
from tests.methods.fake_network import ce_map, patch_with_conv


def _setup(method, tmp_path, **options):
    cfg = build_run_config(method, tmp_path, **options)
    model = build_model(cfg)
    model.train()
    data = model.data_preprocessor(real_batch(cfg, batch_size=4, seed=1), True)
    return model, data["inputs"], data["data_samples"]


def _masked_mean(ce, select, valid):
    return (ce * select.float() * valid.float()).sum() / valid.sum()


def _targets(logits):
    probs = logits.softmax(1)
    return probs.max(1).values, probs.argmax(1)


def _mixed(box, main, partner):
    box = box.bool()
    return torch.where(box if main.dim() == 3 else box[:, None], partner, main)


def test_fixmatch_unsupervised_loss_matches_spec(tmp_path):
    model, inputs, samples = _setup("fixmatch", tmp_path, **{"model.conf_thresh": 0.3})
    conv = patch_with_conv(model)
    u, mix = inputs["unlabeled"], inputs["unlabeled_mix"]
    u.pad_mask[:, :, 56:] = True  # padding on the right of every crop
    losses = model.loss(inputs, samples)
    box = u.cutmix_boxes[:, 0]
    with torch.no_grad():
        conf, label = _targets(conv(u.weak))
        conf_mix, label_mix = _targets(conv(mix.weak))
    strong = _mixed(box, u.strong[0], mix.strong[0])
    valid = _mixed(box, ~u.pad_mask, ~mix.pad_mask)
    target = _mixed(box, label, label_mix)
    select = _mixed(box, conf, conf_mix) >= 0.3
    expected = _masked_mean(ce_map(conv(strong), target), select, valid) / 2
    torch.testing.assert_close(losses["unsup.loss_strong"], expected)
    assert 0 < select.float().mean() < 1  # the threshold really selects
    # padding never contributes: counting padded pixels would give another value
    with_padding = _masked_mean(ce_map(conv(strong), target), select, torch.ones_like(valid))
    assert not torch.isclose(with_padding / 2, expected)
    losses["unsup.loss_strong"].backward()
    assert conv.weight.grad.abs().sum() > 0


def test_unimatch_loss_terms_and_weights_match_spec(tmp_path):
    model, inputs, samples = _setup("unimatch", tmp_path, **{"model.conf_thresh": 0.3})
    conv = patch_with_conv(model)
    scale = torch.linspace(0.5, 1.5, num_classes()).view(1, -1, 1, 1)
    model.clean_and_perturbed_logits = lambda x: (conv(x), conv(x) * scale)
    losses = model.loss(inputs, samples)
    u, mix = inputs["unlabeled"], inputs["unlabeled_mix"]
    with torch.no_grad():
        conf, label = _targets(conv(u.weak))
        conf_mix, label_mix = _targets(conv(mix.weak))
    valid = ~u.pad_mask
    expected_fp = _masked_mean(ce_map(conv(u.weak) * scale, label), conf >= 0.3, valid)
    torch.testing.assert_close(losses["unsup.loss_fp"], expected_fp / 4)
    for k in range(2):
        box = u.cutmix_boxes[:, k]
        strong = _mixed(box, u.strong[k], mix.strong[k])
        select = _mixed(box, conf, conf_mix) >= 0.3
        expected = _masked_mean(ce_map(conv(strong), _mixed(box, label, label_mix)), select,
                                _mixed(box, valid, ~mix.pad_mask))
        torch.testing.assert_close(losses[f"unsup.loss_strong{k + 1}"], expected / 8)


def test_unimatch_fp_branch_differs_from_clean_branch(tmp_path):
    model, inputs, _ = _setup("unimatch", tmp_path)
    torch.manual_seed(0)
    clean, perturbed = model.clean_and_perturbed_logits(inputs["labeled"])
    assert clean.shape == perturbed.shape
    assert (clean - perturbed).abs().mean() > 1e-3
    # without dropout the two halves coincide: the branch differs only by the perturbation
    model.fp_dropout = 0.0
    clean, perturbed = model.clean_and_perturbed_logits(inputs["labeled"])
    torch.testing.assert_close(clean, perturbed)


def test_cutmix_seg_consistency_matches_spec(tmp_path, monkeypatch):
    import methods.cutmix_seg as module

    model, inputs, samples = _setup("cutmix_seg", tmp_path, **{"model.conf_thresh": 0.5})
    conv = patch_with_conv(model)
    partner = torch.tensor([2, 3, 0, 1])
    box = torch.zeros(4, 64, 64)
    box[:, 10:40, 5:50] = 1
    monkeypatch.setattr(module, "shifted_partner", lambda n: partner)
    monkeypatch.setattr(module, "box_masks", lambda *a, **k: box)
    model.teacher_logits = lambda x: (conv(x) * 0.7).detach()
    losses = model.loss(inputs, samples)
    x = inputs["unlabeled"].weak
    teacher = (conv(x) * 0.7).detach()
    p_t = (teacher * (1 - box[:, None]) + teacher[partner] * box[:, None]).softmax(1)
    p_s = conv(x * (1 - box[:, None]) + x[partner] * box[:, None]).softmax(1)
    valid = (~inputs["unlabeled"].pad_mask).float()
    valid = valid * (1 - box) + valid[partner] * box
    c = (p_t.max(1).values >= 0.5).float().mean()
    expected = (valid * c * ((p_s - p_t) ** 2).sum(1)).sum() / valid.numel()
    torch.testing.assert_close(losses["unsup.loss_cons"], expected)
    assert 0 < float(c) < 1


def test_cps_networks_exchange_pseudo_labels(tmp_path, monkeypatch):
    import methods.cps as module

    model, inputs, samples = _setup("cps", tmp_path)
    # independently initialised heads, shared backbone start
    head1 = dict(model.student.decode_head.named_parameters())
    head2 = dict(model.student2.decode_head.named_parameters())
    assert any(not torch.equal(head1[n], head2[n]) for n in head1)
    for (n1, p1), (_, p2) in zip(model.student.backbone.named_parameters(),
                                 model.student2.backbone.named_parameters()):
        assert torch.equal(p1, p2), n1

    torch.manual_seed(0)
    conv1, conv2 = torch.nn.Conv2d(3, num_classes(), 1), torch.nn.Conv2d(3, num_classes(), 1)
    model.logits = lambda net, x: (conv1 if net is model.student else conv2)(x)
    model.raw_logits = model.logits
    partner = torch.tensor([1, 2, 3, 0])
    box = torch.zeros(4, 64, 64)
    box[:, :32] = 1
    monkeypatch.setattr(module, "shifted_partner", lambda n: partner)
    monkeypatch.setattr(module, "box_masks", lambda *a, **k: box)
    losses = model.loss(inputs, samples)
    x = inputs["unlabeled"].weak
    mixed = x * (1 - box[:, None]) + x[partner] * box[:, None]
    with torch.no_grad():
        y1 = (conv1(x) * (1 - box[:, None]) + conv1(x)[partner] * box[:, None]).argmax(1)
        y2 = (conv2(x) * (1 - box[:, None]) + conv2(x)[partner] * box[:, None]).argmax(1)
    expected = ce_map(conv1(mixed), y2).mean() + ce_map(conv2(mixed), y1).mean()
    torch.testing.assert_close(losses["unsup.loss_cps"], 1.0 * expected)
    # each network's gradient comes from the other's labels: swapping them changes the loss
    swapped = ce_map(conv1(mixed), y1).mean() + ce_map(conv2(mixed), y2).mean()
    assert not torch.isclose(swapped, expected)
    assert "sup.net2_loss_ce" in losses
