# DeepLabv3+ on ResNetV1c-101 (the real protocols' network, docs/methods/README.md#model):
# deep stem 3->64->64->128, layer4 dilated (its first block keeps dilation 1), output
# stride 16, ASPP dilations 6/12/18 + image pooling on c4 (2048 ch), low-level 1x1
# 256->48 on c1, 256 channels, no dropout, bilinear upsampling with align_corners=True.
# Head: the official code's plain-conv DeepLabv3+ head (OfficialDeepLabV3PlusHead,
# benchmark/models/official_deeplabv3plus_head.py); MMSeg's depthwise-separable head takes
# the same arguments: --cfg-options model.segmentor.decode_head.type=DepthwiseSeparableASPPHead
# ResNet-50 and timm backbones: `--backbone r50` / `--backbone timm:<name>`.
# SyncBN as in the multi-GPU originals; single-process and CPU runs fall back to BN
# (benchmark/runs/config_builder.py, resolve_norm).
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='SemiSegmentor',
    data_preprocessor=dict(
        type='SemiSegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255),
    segmentor=dict(
        type='EncoderDecoder',
        backbone=dict(
            type='ResNetV1c',
            depth=101,
            stem_channels=128,
            base_channels=64,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            strides=(1, 2, 2, 1),
            dilations=(1, 1, 1, 2),
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            contract_dilation=True),
        decode_head=dict(
            type='OfficialDeepLabV3PlusHead',
            in_channels=2048,
            in_index=3,
            channels=256,
            dilations=(1, 6, 12, 18),
            c1_in_channels=256,
            c1_channels=48,
            dropout_ratio=0.0,
            num_classes=21,
            norm_cfg=norm_cfg,
            align_corners=True,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                             avg_non_ignore=True)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole')))
backbone_name = 'r101'  # --backbone preset (benchmark/models/backbones.py)
