# DeepLabv3+ on a narrow ResNetV1c-18 (base width 16, head 32), output stride 16.
# The built-in CPU protocol's network: same architecture family as the unified model
# (UniMatch's DeepLabv3+: deep stem, layer4 dilated, ASPP + low-level fusion; see
# docs/methods/README.md#model), scaled down so a run of thousands of iterations fits in
# minutes on 2 CPU cores.
norm_cfg = dict(type='BN', requires_grad=True)
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
            depth=18,
            stem_channels=16,
            base_channels=16,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            strides=(1, 2, 2, 1),
            dilations=(1, 1, 1, 2),
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            contract_dilation=True),
        decode_head=dict(
            type='DepthwiseSeparableASPPHead',
            in_channels=128,
            in_index=3,
            channels=32,
            dilations=(1, 2, 4, 6),
            c1_in_channels=16,
            c1_channels=12,
            dropout_ratio=0.0,
            num_classes=4,
            norm_cfg=norm_cfg,
            align_corners=True,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                             avg_non_ignore=True)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole')))
