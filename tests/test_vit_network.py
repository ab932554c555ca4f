"""The ViT + DPT network: feature and logit shapes, the patch-size crop check, the network
choice in config, hash and protocol settings, and DINOv2 / timm checkpoint names."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from benchmark.errors import BenchmarkError

TINY_VIT = "timm:test_vit"  # timm's own test ViT: patch 16, width 64, 6 blocks
# a patch-14 DINOv2 architecture cut down to two blocks of width 32
TINY_DINOV2 = dict(depth=2, embed_dim=32, num_heads=2)


def _head(embed_dim: int, patch: int, classes: int = 4):
    from mmseg.registry import MODELS

    from benchmark.models.timm_dpt_head import dpt_head_config

    protocol_head = dict(num_classes=classes, align_corners=True,
                         loss_decode=dict(type="CrossEntropyLoss", avg_non_ignore=True))
    return MODELS.build(dpt_head_config(embed_dim, patch, protocol_head))


@pytest.mark.parametrize("model_name, kwargs, patch, crops", [
    ("test_vit", {}, 16, [(64, 64), (96, 64), (128, 128)]),
    ("vit_small_patch14_dinov2", TINY_DINOV2, 14, [(56, 56), (70, 70), (98, 42)]),
])
def test_backbone_gives_the_dpt_head_its_four_maps(model_name, kwargs, patch, crops):
    from benchmark.models.timm_vit import TimmViTBackbone

    backbone = TimmViTBackbone(model_name, model_kwargs=kwargs)
    width = backbone.embed_dim
    head = _head(width, patch)
    assert backbone.patch_size == patch
    for height, wide in crops:
        features = backbone(torch.randn(2, 3, height, wide))
        tokens = (height // patch, wide // patch)
        assert [tuple(f.shape) for f in features] == [(2, width, *tokens)] * 4
        # reassemble strides p/4, p/2, p, 2p; each fusion block doubles: 16 * ceil(t / 2)
        logits = head(list(features))
        assert tuple(logits.shape) == (2, 4, *(16 * math.ceil(t / 2) for t in tokens))


def test_dpt_layers_are_unimatch_v2s_and_a_short_vit_repeats_blocks():
    from benchmark.models.timm_vit import TimmViTBackbone, dpt_layer_indices

    assert dpt_layer_indices(12) == (2, 5, 8, 11)
    assert dpt_layer_indices(24) == (4, 11, 17, 23)
    assert dpt_layer_indices(6) == (1, 2, 3, 5)
    backbone = TimmViTBackbone("vit_small_patch14_dinov2", model_kwargs=TINY_DINOV2)
    assert backbone.layer_indices == (0, 0, 1, 1)
    first, again, second, last = backbone(torch.randn(1, 3, 28, 28))
    assert torch.equal(first, again) and torch.equal(second, last)
    assert not torch.equal(first, second)


def test_off_grid_inputs_are_resized_to_the_nearest_patch_multiple():
    """Whole-image evaluation: 75 x 60 px is read as 70 x 56 (UniMatch V2's rounding)."""
    import torch.nn.functional as F

    from benchmark.models.timm_vit import TimmViTBackbone

    backbone = TimmViTBackbone("vit_small_patch14_dinov2", model_kwargs=TINY_DINOV2).eval()
    image = torch.randn(1, 3, 75, 60)
    resized = F.interpolate(image, size=(70, 56), mode="bilinear", align_corners=True)
    with torch.no_grad():
        for got, expected in zip(backbone(image), backbone(resized)):
            assert got.shape[-2:] == (5, 4)
            assert torch.allclose(got, expected)


def test_dpt_widths_are_unimatch_v2s():
    from benchmark.models.timm_dpt_head import dpt_widths

    assert dpt_widths(384) == (64, (48, 96, 192, 384))
    assert dpt_widths(768) == (128, (96, 192, 384, 768))
    assert dpt_widths(64) == (16, (8, 16, 32, 64))


def _config(tmp_path: Path, backbone: str | None, **cfg_options):
    import benchmark.plugins  # noqa: F401
    from benchmark.contract.fixtures import compose_check_config

    return compose_check_config("supervised", tmp_path / "work", backbone=backbone,
                                cfg_options=cfg_options)


def test_vit_backbone_selects_the_dpt_network_in_config_and_hash(tmp_path):
    from benchmark.runs.config_builder import config_hash

    cnn, vit = _config(tmp_path, None), _config(tmp_path, TINY_VIT)
    assert vit.network_name == "vit_dpt" and "network_name" not in cnn
    assert vit.model.segmentor.backbone.type == "TimmViTBackbone"
    head = vit.model.segmentor.decode_head
    assert head.type == "TimmDPTHead"
    assert head.num_classes == cnn.model.segmentor.decode_head.num_classes
    # the network's optimiser, for every method alike; no ViT weights exist for the data
    optimizer = vit.optim_wrapper.optimizer
    assert optimizer.type == "AdamW" and "momentum" not in optimizer
    assert vit.pretrained == "none"
    assert config_hash(vit) != config_hash(cnn)


def test_a_crop_off_the_patch_grid_is_one_line_naming_the_fix(tmp_path):
    with pytest.raises(BenchmarkError) as err:
        _config(tmp_path, "timm:vit_small_patch14_dinov2")
    message = str(err.value)
    assert "\n" not in message
    assert "crop size 64 is not a multiple of 14" in message
    assert "crop_size=56 or crop_size=70" in message
    assert _config(tmp_path, "timm:vit_small_patch14_dinov2", crop_size=56).crop_size == 56


def _real_protocol_config(protocol: str, tmp_path: Path):
    import benchmark.plugins  # noqa: F401
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec

    spec = RunSpec(method="unimatch_v2", protocol=protocol, split="1_8", seed=0,
                   backbone="timm:vit_base_patch14_dinov2")
    return build_config(spec, tmp_path / "missing", tmp_path / "work", check_data=False,
                        require_weights=False)


def test_pascal_and_cityscapes_vit_settings_are_unimatch_v2s(tmp_path):
    from benchmark.protocols import get_protocol
    from benchmark.splits import read_split_list

    pascal = _real_protocol_config("pascal", tmp_path)
    unlabeled = read_split_list(get_protocol("pascal").split_files("1_8", tmp_path).unlabeled)
    assert pascal.crop_size == 518 and pascal.train_dataloader.batch_size == 16
    assert pascal.train_cfg.max_iters == 60 * (len(unlabeled) // 16)
    optimizer = pascal.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ("AdamW", 5e-6, 0.01)
    assert pascal.optim_wrapper.paramwise_cfg.custom_keys.decode_head.lr_mult == 40.0
    assert pascal.model.segmentor.test_cfg.mode == "whole"
    assert "dinov2_vitb14_pretrain.pth" in pascal.unknown_hash_input

    cityscapes = _real_protocol_config("cityscapes", tmp_path)
    assert cityscapes.crop_size == 798 and cityscapes.train_dataloader.batch_size == 8
    assert cityscapes.num_epochs == 180
    segmentor = cityscapes.model.segmentor
    assert segmentor.test_cfg.crop_size == (798, 798) and segmentor.test_cfg.stride == (532, 532)
    assert segmentor.decode_head.loss_decode.type == "ProbOhemCrossEntropyLoss"


# ----------------------------------------------------------------- checkpoint names
def _tiny_reg_backbone() -> dict:
    return dict(type="TimmViTBackbone", model_name="vit_small_patch14_reg4_dinov2",
                model_kwargs=TINY_DINOV2)


@pytest.mark.parametrize("naming", ["timm", "official DINOv2", "UniMatch V2 checkpoint"])
def test_dinov2_and_timm_checkpoints_load_into_the_vit(naming, tmp_path):
    from mmseg.registry import MODELS

    from benchmark.pretrain.asset import file_sha256
    from benchmark.pretrain.checkpoint_keys import checked_checkpoint, read_state_dict

    source = MODELS.build(_tiny_reg_backbone())
    timm_state = {k.removeprefix("model."): v.clone() for k, v in source.state_dict().items()}
    if naming == "timm":
        state = timm_state
    else:  # facebookresearch/dinov2 names: register_tokens, plus the unused mask_token
        state = {("register_tokens" if k == "reg_token" else k): v for k, v in timm_state.items()}
        state["mask_token"] = torch.zeros(1, TINY_DINOV2["embed_dim"])
        if naming == "UniMatch V2 checkpoint":  # DDP-saved DPT: backbone.* and head.*
            state = {f"module.backbone.{k}": v for k, v in state.items()}
            state["module.head.scratch.output_conv.0.weight"] = torch.zeros(3, 3)
    path = tmp_path / "weights.pth"
    torch.save(state, path)

    loaded = checked_checkpoint(path, file_sha256(path), _tiny_reg_backbone(), "test weights")
    target = MODELS.build(_tiny_reg_backbone())
    target.load_state_dict(read_state_dict(loaded), strict=True)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_a_checkpoint_of_another_vit_is_one_line_with_the_counts(tmp_path):
    from mmseg.registry import MODELS

    from benchmark.pretrain.asset import file_sha256
    from benchmark.pretrain.checkpoint_keys import checked_checkpoint

    state = {k.removeprefix("model."): v
             for k, v in MODELS.build(_tiny_reg_backbone()).state_dict().items()}
    state.pop("norm.weight")
    state["blocks.9.attn.qkv.weight"] = torch.zeros(96, 32)
    path = tmp_path / "other.pth"
    torch.save(state, path)
    with pytest.raises(BenchmarkError) as err:
        checked_checkpoint(path, file_sha256(path), _tiny_reg_backbone(), "DINOv2 weights")
    message = str(err.value)
    assert "\n" not in message
    assert "1 missing and 1 unexpected keys" in message
    assert "first missing: model.norm.weight" in message and "pass the DINOv2 weights" in message
