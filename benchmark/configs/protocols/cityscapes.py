# Cityscapes fine (protocols cityscapes, cityscapes_u2pl): DeepLabv3+ ResNet-101 v1c from
# ImageNet weights, crop 801, batch 8 + 8, lr 0.005 with the head at x1, 240 epochs over
# the unlabeled set, OHEM on the labeled loss as UniMatch's util/ohem.py (per group of 2
# images, UniMatch's per-GPU batch: keep the valid pixels whose probability of the true class
# is <= max(0.7, the 200 000-th smallest), all if fewer are valid; mean CE over the kept
# pixels; benchmark/models/ohem_loss.py), sliding-window evaluation:
# window = training crop, stride int(2/3 window), the windows' softmax outputs summed
# (SlideSoftmaxEncoderDecoder; window and stride follow crop_size).
_base_ = [
    '../_base_/models/deeplabv3plus_r101_v1c.py',
    '../_base_/datasets/cityscapes.py',
    '../_base_/semi_supervised_protocol.py',
    '../_base_/default_runtime.py',
]
crop_size = 801
num_epochs = 240
model = dict(segmentor=dict(
    type='SlideSoftmaxEncoderDecoder',
    decode_head=dict(loss_decode=dict(_delete_=True, type='ProbOhemCrossEntropyLoss',
                                      thresh=0.7, min_kept=200000, images_per_group=2)),
    # windows placed as the official code does: the last ones clipped at the border
    # (window_rule='mmseg': MMSeg's rule, the last window shifted inside; docs/protocols.md)
    test_cfg=dict(mode='slide', crop_size=(crop_size, crop_size),
                  stride=(crop_size * 2 // 3, crop_size * 2 // 3), window_rule='official')))
optim_wrapper = dict(optimizer=dict(lr=0.005),
                     paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=1.0)}))
