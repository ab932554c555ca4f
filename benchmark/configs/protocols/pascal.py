# Pascal VOC 2012 (protocols pascal, pascal_classic): DeepLabv3+ ResNet-101 v1c from
# ImageNet weights, crop 321, batch 8 + 8, lr 0.001 with the head at x10, 80 epochs over
# the unlabeled set, mean CE, whole-image evaluation (single scale, no flip, batch 1).
_base_ = [
    '../_base_/models/deeplabv3plus_r101_v1c.py',
    '../_base_/datasets/pascal_voc.py',
    '../_base_/semi_supervised_protocol.py',
    '../_base_/default_runtime.py',
]
crop_size = 321
num_epochs = 80
optim_wrapper = dict(optimizer=dict(lr=0.001),
                     paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))
