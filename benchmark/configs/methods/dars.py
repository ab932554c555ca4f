# DARS (He et al., ICCV 2021): round 0 supervised, then two offline self-training rounds.
# Pseudo-labels: teacher = previous round's model, sliding window of the training crop
# (stride 2/3, hflip-averaged logits), class-wise thresholds at ratio alpha + sampling.
# Both branches get the DARS augmentation: random scale (progressive per round), rotation
# +-10 deg and Gaussian blur (p 0.5 each), pad, crop, flip; no photometric strong views.
# Poly lr restarts at lr_0 * (1/(k+1))^0.9 in round k (the continued schedule).
# [choice] Built-in protocol: the three rounds split its max_iters into thirds, so a DARS
# run costs about one run of the protocol; real protocols (overrides below) train each
# round for the full schedule, as the paper does. Pascal-style values (VOC: alpha 40/50%,
# scale [0.5, 1.5] -> [0.5, 2.0]) on the built-in protocol, whose data has VOC's layout.
model = dict(
    type='DARS',
    unsup_weight=1.0,
    sampling='exact',
    data_preprocessor=dict(type='SelfTrainingDataPreProcessor'))
# (names starting with __ are helpers, not config keys)
__dars_aug = [
    dict(type='RandomRotate', prob=0.5, degree=10, pad_val=0, seg_pad_val=255),
    dict(type='RandomGaussianBlur', prob=0.5, kernel_size=5),
]
train_cfg = dict(
    type='SelfTrainingLoop',
    labeling=dict(mode='slide', stride_ratio=2 / 3, flip=True),
    rounds=[
        dict(length=1 / 3, labeled_batch=16, scale_range=(0.5, 1.5), extra_transforms=__dars_aug),
        dict(length=1 / 3, lr_factor=0.5**0.9, labeled_batch=8, unlabeled_batch=8,
             scale_range=(0.5, 1.5), extra_transforms=__dars_aug, selection=dict(alpha=0.4)),
        dict(length=1 / 3, lr_factor=(1 / 3)**0.9, labeled_batch=8, unlabeled_batch=8,
             scale_range=(0.5, 2.0), extra_transforms=__dars_aug, selection=dict(alpha=0.5)),
    ])
__rounds_voc = [
    dict(length=1.0, labeled_batch=16, scale_range=(0.5, 1.5), extra_transforms=__dars_aug),
    dict(length=1.0, lr_factor=0.5**0.9, labeled_batch=8, unlabeled_batch=8,
         scale_range=(0.5, 1.5), extra_transforms=__dars_aug, selection=dict(alpha=0.4)),
    dict(length=1.0, lr_factor=(1 / 3)**0.9, labeled_batch=8, unlabeled_batch=8,
         scale_range=(0.5, 2.0), extra_transforms=__dars_aug, selection=dict(alpha=0.5)),
]
# Cityscapes: the released crop-713 values (alpha 40/65%, scale [0.5, 2.0] -> [0.5, 3.0]).
__rounds_cityscapes = [
    dict(length=1.0, labeled_batch=16, scale_range=(0.5, 2.0), extra_transforms=__dars_aug),
    dict(length=1.0, lr_factor=0.5**0.9, labeled_batch=8, unlabeled_batch=8,
         scale_range=(0.5, 2.0), extra_transforms=__dars_aug, selection=dict(alpha=0.4)),
    dict(length=1.0, lr_factor=(1 / 3)**0.9, labeled_batch=8, unlabeled_batch=8,
         scale_range=(0.5, 3.0), extra_transforms=__dars_aug, selection=dict(alpha=0.65)),
]
protocol_overrides = dict(
    pascal=dict(train_cfg=dict(rounds=__rounds_voc)),
    cityscapes=dict(train_cfg=dict(rounds=__rounds_cityscapes)))
