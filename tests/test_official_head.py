"""OfficialDeepLabV3PlusHead against the official architecture.

Source: LiheYoung/UniMatch ``model/semseg/deeplabv3plus.py`` at commit
0324f3dd4a22128105a5eb135d2586c0bb3cc647 (ResNet-101, ``dilations: [6, 12, 18]``,
``replace_stride_with_dilation: [False, False, True]`` in ``configs/pascal.yaml``).
``Reference`` below is an independent re-statement of that module's decoder with its
attribute names; the parameter counts are derived by hand from its layer list.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import nn

import benchmark.pretrain  # noqa: F401 - see below
from benchmark.models.official_deeplabv3plus_head import (
    OfficialDeepLabV3PlusHead,
    official_head_state_dict,
)
from benchmark.paths import CONFIG_ROOT

# benchmark.pretrain.backbone binds sys.stderr as a default argument when it is first
# imported; imported inside a capsys test (the CLI runs below), later tests would write
# to that test's closed stream. Importing it here binds pytest's session stream.

# Hand count for 2048 -> 256 ASPP channels, 256 low-level -> 48, BN = weight + bias:
#   b0 1x1       2048*256     + 512 =    524 800
#   b1..b3 3x3   2048*256*9   + 512 =  4 719 104  (x3 = 14 157 312)
#   b4 pool 1x1  2048*256     + 512 =    524 800
#   project 1x1  5*256*256    + 512 =    328 192
#   reduce 1x1   256*48       +  96 =     12 384
#   fuse.0 3x3   (256+48)*256*9 + 512 =  700 928
#   fuse.3 3x3   256*256*9    + 512 =    590 336
#   classifier   256*C + C           (21 classes: 5 397; 19 classes: 4 883)
HEAD_WITHOUT_CLASSIFIER = 16_838_752
HEAD_PARAMETERS = {21: 16_844_149, 19: 16_843_635}
# The official ResNet-101 (deep stem 3-64-64-128, no fc): torchvision's resnet101 without
# fc (42 500 160) - its 7x7 stem conv and BN (9 536) + the three stem convs and BNs
# (112 832) + layer1's first block reading 128 instead of 64 channels (4 096 + 16 384).
BACKBONE_PARAMETERS = 42_623_936
# official DeepLabV3Plus head keys per module: conv weight + 5 BN entries; classifier 2
OFFICIAL_HEAD_KEYS = 6 * 6 + 6 + 2 * 6 + 2


def conv_bn_relu(cin: int, cout: int, kernel: int, rate: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=rate * (kernel // 2),
                                   dilation=rate, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ReferencePooling(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), *conv_bn_relu(cin, cout, 1))

    def forward(self, x):
        return F.interpolate(self.gap(x), x.shape[-2:], mode="bilinear", align_corners=True)


class ReferenceASPP(nn.Module):
    def __init__(self, cin: int, rates=(6, 12, 18)) -> None:
        super().__init__()
        cout = cin // 8
        self.b0 = conv_bn_relu(cin, cout, 1)
        self.b1 = conv_bn_relu(cin, cout, 3, rates[0])
        self.b2 = conv_bn_relu(cin, cout, 3, rates[1])
        self.b3 = conv_bn_relu(cin, cout, 3, rates[2])
        self.b4 = ReferencePooling(cin, cout)
        self.project = conv_bn_relu(5 * cout, cout, 1)

    def forward(self, x):
        return self.project(torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x),
                                       self.b4(x)], 1))


class Reference(nn.Module):
    """The official decoder: ``head`` (ASPP), ``reduce``, ``fuse``, ``classifier``."""

    def __init__(self, nclass: int, low: int = 256, high: int = 2048) -> None:
        super().__init__()
        self.head = ReferenceASPP(high)
        self.reduce = conv_bn_relu(low, 48, 1)
        self.fuse = nn.Sequential(*conv_bn_relu(high // 8 + 48, 256, 3),
                                  *conv_bn_relu(256, 256, 3))
        self.classifier = nn.Conv2d(256, nclass, 1, bias=True)

    def forward(self, c1, c4):
        c4 = F.interpolate(self.head(c4), c1.shape[-2:], mode="bilinear", align_corners=True)
        return self.classifier(self.fuse(torch.cat([self.reduce(c1), c4], 1)))


def our_head(num_classes: int) -> OfficialDeepLabV3PlusHead:
    return OfficialDeepLabV3PlusHead(in_channels=2048, in_index=3, channels=256,
                                     c1_in_channels=256, c1_channels=48, dropout_ratio=0.0,
                                     num_classes=num_classes, norm_cfg=dict(type="BN"),
                                     align_corners=True)


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("num_classes", [21, 19])
def test_parameter_count_is_the_official_one(num_classes):
    with torch.device("meta"):
        ours, reference = our_head(num_classes), Reference(num_classes)
    assert parameters(reference) == HEAD_PARAMETERS[num_classes]
    assert parameters(ours) == HEAD_PARAMETERS[num_classes]
    assert HEAD_PARAMETERS[num_classes] == HEAD_WITHOUT_CLASSIFIER + 257 * num_classes


def test_official_state_dict_loads_and_gives_the_official_logits():
    torch.manual_seed(0)
    reference = Reference(21)
    for module in reference.modules():  # non-trivial BN statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
    official = {f"module.{k}": v for k, v in reference.state_dict().items()}
    official["module.backbone.conv1.0.weight"] = torch.zeros(64, 3, 3, 3)
    assert len(reference.state_dict()) == OFFICIAL_HEAD_KEYS
    assert {"module.head.b0.0.weight", "module.head.b4.gap.1.weight",
            "module.head.project.1.running_var", "module.reduce.1.num_batches_tracked",
            "module.fuse.3.weight", "module.classifier.bias"} <= set(official)

    ours = our_head(21)
    result = ours.load_state_dict(official_head_state_dict(official), strict=True)
    assert not result.missing_keys and not result.unexpected_keys

    c1, c4 = torch.randn(2, 256, 12, 12), torch.randn(2, 2048, 3, 3)
    reference.eval()
    ours.eval()
    with torch.no_grad():
        expected = reference(c1, c4)
        logits = ours([c1, torch.empty(0), torch.empty(0), c4])
    assert logits.shape == expected.shape == (2, 21, 12, 12)
    assert torch.allclose(logits, expected, atol=1e-5, rtol=1e-5)


def test_unknown_official_key_is_an_error():
    with pytest.raises(KeyError, match="aux.0.weight"):
        official_head_state_dict({"aux.0.weight": torch.zeros(1)})


def test_pascal_network_is_the_official_one(plugins_loaded):
    from mmseg.registry import MODELS

    cfg = Config.fromfile(CONFIG_ROOT / "protocols" / "pascal.py")
    segmentor = cfg.model.segmentor
    segmentor.backbone.norm_cfg = segmentor.decode_head.norm_cfg = dict(type="BN")
    network = MODELS.build(segmentor)
    assert type(network.decode_head).__name__ == "OfficialDeepLabV3PlusHead"
    assert parameters(network.decode_head) == HEAD_PARAMETERS[21]
    assert parameters(network.backbone) == BACKBONE_PARAMETERS
    network.train()
    images = torch.randn(2, 3, 65, 65)
    raw = network._forward(images)
    assert raw.shape == (2, 21, 17, 17)  # stride 4, as the official before its upsampling
    raw.logsumexp(1).mean().backward()
    assert all(p.grad is not None for p in network.decode_head.parameters())


def test_cityscapes_uses_it_and_mmseg_head_takes_the_same_arguments(plugins_loaded):
    from mmseg.registry import MODELS

    cfg = Config.fromfile(CONFIG_ROOT / "protocols" / "cityscapes.py")
    head = cfg.model.segmentor.decode_head
    assert head.type == "OfficialDeepLabV3PlusHead"
    head.norm_cfg = dict(type="BN")
    with torch.device("meta"):
        mmseg_head = MODELS.build({**head, "type": "DepthwiseSeparableASPPHead"})
    assert type(mmseg_head).__name__ == "DepthwiseSeparableASPPHead"
    assert parameters(mmseg_head) < HEAD_PARAMETERS[19]


def test_synthetic_protocol_keeps_the_mmseg_head():
    cfg = Config.fromfile(CONFIG_ROOT / "protocols" / "synthetic.py")
    assert cfg.model.segmentor.decode_head.type == "DepthwiseSeparableASPPHead"


def test_dilations_need_the_one_by_one_branch_first():
    with pytest.raises(ValueError, match="dilations"):
        OfficialDeepLabV3PlusHead(in_channels=8, channels=4, num_classes=2, dilations=(6, 12, 18))


@pytest.fixture
def pascal_fixture(tmp_path, monkeypatch):
    from benchmark import protocols
    from tests.real_fixtures import real_fixture

    root = tmp_path / "voc"
    monkeypatch.setattr(protocols, "SPLIT_LIST_ROOT", real_fixture(root, "pascal", "1_8"))
    return root


def dry_run(capsys, root, tmp_path, *options: str) -> tuple[int, str]:
    from benchmark.cli import main

    code = main(["run", "--methods", "supervised,unimatch", "--protocol", "pascal", "--split",
                 "1_8", "--data-root", str(root), "--pretrained", "none", "--results-dir",
                 str(tmp_path / "results"), "--work-dir", str(tmp_path / "work"), "--dry-run",
                 *options])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_pascal_dry_run_shows_the_official_head_and_its_parameter_count(
        pascal_fixture, tmp_path, capsys):
    code, text = dry_run(capsys, pascal_fixture, tmp_path)
    assert code == 0, text
    total = HEAD_PARAMETERS[21] + BACKBONE_PARAMETERS
    assert (f"network [1,2]: decode head OfficialDeepLabV3PlusHead {HEAD_PARAMETERS[21]:,} "
            f"parameters, backbone ResNetV1c {BACKBONE_PARAMETERS:,}, total {total:,}") in text

    code, text = dry_run(capsys, pascal_fixture, tmp_path, "--cfg-options",
                         "model.segmentor.decode_head.type=DepthwiseSeparableASPPHead")
    assert code == 0, text
    assert "network [1,2]: decode head DepthwiseSeparableASPPHead" in text


def test_unknown_head_is_a_clear_error(pascal_fixture, tmp_path, capsys):
    code, text = dry_run(capsys, pascal_fixture, tmp_path, "--cfg-options",
                         "model.segmentor.decode_head.type=OfficialHead")
    assert code == 2
    assert "unknown decode head model.segmentor.decode_head.type='OfficialHead'" in text
    assert "OfficialDeepLabV3PlusHead" in text and "DepthwiseSeparableASPPHead" in text
