"""Backbone checkpoints (match, missing, mismatched keys) and sliding-window evaluation."""

from __future__ import annotations

import pytest
import torch

from benchmark import protocols
from benchmark.cli import main
from tests.real_fixtures import real_fixture


@pytest.fixture
def pascal_root(tmp_path, monkeypatch):
    root = tmp_path / "voc"
    monkeypatch.setattr(protocols, "SPLIT_LIST_ROOT", real_fixture(root, "pascal", "1_8"))
    return root


def r18_state() -> dict:
    from mmseg.registry import MODELS

    from benchmark.models.backbones import backbone_preset

    torch.manual_seed(0)
    return MODELS.build(backbone_preset("r18").backbone).state_dict()


def build(root, tmp_path, **spec):
    import benchmark.plugins  # noqa: F401
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec

    return build_config(RunSpec("supervised", "pascal", "1_8", backbone="r18", **spec), root,
                        tmp_path / "w")


def test_matching_checkpoint_is_loaded_into_the_backbone(pascal_root, tmp_path):
    from mmseg.registry import MODELS

    state = r18_state()
    path = tmp_path / "resnet18_v1c.pth"
    torch.save({"state_dict": state}, path)
    cfg = build(pascal_root, tmp_path, pretrained=str(path))
    assert cfg.model.segmentor.backbone.init_cfg.checkpoint == str(path)
    model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = model.student.backbone.state_dict()
    assert torch.equal(loaded["stem.0.weight"], state["stem.0.weight"])
    assert torch.equal(loaded["layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])


def test_unimatch_naming_is_adapted(pascal_root, tmp_path):
    from benchmark.pretrain.checkpoint_keys import UNIMATCH_STEM, read_state_dict

    state = r18_state()
    back = {new: old for old, new in UNIMATCH_STEM.items()}
    renamed = {}
    for key, value in state.items():
        prefix = next((p for p in back if key.startswith(p)), None)
        renamed[back[prefix] + key[len(prefix):] if prefix else key] = value
    renamed["fc.weight"] = torch.zeros(1000, 512)  # classifier of an ImageNet checkpoint
    path = tmp_path / "unimatch_style.pth"
    torch.save(renamed, path)
    cfg = build(pascal_root, tmp_path, pretrained=str(path))
    adapted = read_state_dict(cfg.model.segmentor.backbone.init_cfg.checkpoint)
    assert set(adapted) == set(state)
    assert torch.equal(adapted["stem.7.weight"], state["stem.7.weight"])


def test_mismatched_keys_are_one_line_with_counts(pascal_root, tmp_path, capsys):
    state = r18_state()
    state.pop("layer1.0.conv1.weight")
    state.pop("layer1.0.bn1.weight")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    code = main(["run", "--methods", "supervised", "--protocol", "pascal", "--split", "1_8",
                 "--data-root", str(pascal_root), "--backbone", "r18", "--pretrained",
                 str(path), "--results-dir", str(tmp_path)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "2 missing and 1 unexpected keys" in lines[0]
    assert "first missing: layer1.0.bn1.weight" in lines[0]


def test_a_tensor_of_another_shape_is_one_line_naming_key_and_shapes(pascal_root, tmp_path,
                                                                     capsys):
    state = r18_state()
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)  # every key still matches
    state["layer2.0.conv1.weight"] = torch.zeros(128, 64, 1, 1)
    path = tmp_path / "reshaped.pth"
    torch.save(state, path)
    code = main(["run", "--methods", "supervised", "--protocol", "pascal", "--split", "1_8",
                 "--data-root", str(pascal_root), "--backbone", "r18", "--pretrained",
                 str(path), "--results-dir", str(tmp_path / "results"),
                 "--work-dir", str(tmp_path / "work")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0] == (
        f"error: checkpoint {path} does not fit backbone ResNetV1c: 2 tensors of another "
        "shape (first: layer1.0.conv1.weight is [64, 64, 1, 1] in the checkpoint, "
        "[64, 64, 3, 3] in the backbone); pass the ResNet-18 v1c ImageNet weights "
        "(supervised pascal/1_8 seed 0)")
    assert not (tmp_path / "results").exists() and not (tmp_path / "work").exists()


def test_missing_default_checkpoint_names_the_weights_and_place(pascal_root, tmp_path,
                                                                  monkeypatch, capsys):
    monkeypatch.delenv("SEMISEG_PRETRAINED_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--methods", "supervised", "--protocol", "pascal", "--split", "1_8",
                 "--data-root", str(pascal_root), "--results-dir", str(tmp_path)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "ResNet-101 v1c ImageNet weights (resnet101.pth, as UniMatch and SOP use) not " \
           "found at pretrained/resnet101.pth" in lines[0]
    code = main(["run", "--methods", "supervised", "--protocol", "pascal", "--split", "1_8",
                 "--data-root", str(pascal_root), "--backbone", "r50", "--pretrained",
                 "nowhere.pth", "--results-dir", str(tmp_path)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "nowhere.pth not found; pass ResNet-50 v1c ImageNet weights" in lines[0]


def test_sliding_window_sums_window_softmax_like_a_hand_computation():
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    import benchmark.models  # noqa: F401

    torch.manual_seed(0)
    network = MODELS.build(dict(
        type="SlideSoftmaxEncoderDecoder",
        backbone=dict(type="TimmBackbone", model_name="test_resnet"),
        decode_head=dict(type="DepthwiseSeparableASPPHead", in_channels=96, in_index=1,
                         channels=8, dilations=(1, 2), c1_in_channels=32, c1_channels=4,
                         num_classes=3, align_corners=True),
        test_cfg=ConfigDict(mode="slide", crop_size=(32, 32), stride=(21, 21),
                            window_rule="mmseg"))).eval()
    image = torch.randn(1, 3, 40, 70)
    meta = dict(ori_shape=(40, 70), img_shape=(40, 70), pad_shape=(40, 70),
                padding_size=[0, 0, 0, 0])
    with torch.no_grad():
        result = network.predict(image, [SegDataSample(metainfo=meta)])[0]
        # windows of 32 with stride 21 on 40 x 70; the last row/column shifted inside
        total, count = torch.zeros(1, 3, 40, 70), torch.zeros(1, 1, 40, 70)
        for y0, y1 in ((0, 32), (8, 40)):
            for x0, x1 in ((0, 32), (21, 53), (38, 70)):
                window = image[:, :, y0:y1, x0:x1]
                logits = network.encode_decode(window, [dict(meta, img_shape=window.shape[2:])])
                total[:, :, y0:y1, x0:x1] += logits.softmax(dim=1)
                count[:, :, y0:y1, x0:x1] += 1
    assert count.min() >= 1
    assert torch.allclose(result.seg_logits.data, (total / count)[0], atol=1e-6)
    assert torch.equal(result.pred_sem_seg.data[0], total[0].argmax(dim=0))
