# Built-in CPU protocol: generated 64 px scenes in Pascal VOC layout (benchmark.synthetic).
# data_root and split lists are filled in by the runner for each (split, seed).
_base_ = ['../_base_/models/deeplabv3plus_r18_narrow.py', '../_base_/default_runtime.py']

crop_size = 64
# Schedule (README, built-in protocol, measured from the pretrained backbone): supervised-only
# at 1/8 plateaus by iteration 800; on all labels 2000 iterations reach 80.2 mIoU and
# doubling adds 3.1 (the 10-minute budget of `make run` rules out 4000).
num_iters = 2000
batch_size = 8  # per branch: 8 labeled + 8 unlabeled
# Backbone initialisation, ImageNet's role: 'generated' = a backbone pretrained once per
# machine on a separate generated set of the other (shape, texture) classes
# (`python -m benchmark pretrain`); 'none' = random init; or a checkpoint path. Loaded by
# the backbone's init_cfg=dict(type='Pretrained'), like ImageNet weights on real protocols.
pretrained = 'generated'
model = dict(
    # Protocol settings, the same for every method (README, built-in protocol):
    # no unsupervised warm-up (the pretrained start makes it unnecessary), and every EMA
    # teacher's time constant keeps the fraction of the schedule it has in the papers'
    # ~80k-iteration schedules.
    unsup_warmup_ratio=0.0,
    ema_reference_iters=80000,
    data_preprocessor=dict(size=(crop_size, crop_size)),
    segmentor=dict(decode_head=dict(num_classes=4)))
# Classes of the generated dataset (the runner re-reads them from its meta.json).
metainfo = dict(
    classes=('background', 'circle_stripes', 'square_checker', 'triangle_dots'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]])

# Strong augmentation of every method's strong views (a protocol setting, applied by
# benchmark.runs.protocol_settings.apply_strong_augmentation): UniMatch's recipe, colour
# jitter p 0.8, grayscale p 0.2, Gaussian blur p 0.5 with sigma ~ U(0.1, 2.0), CutMix
# p 0.5; reference_crop scales the sigma range by crop_size / reference_crop.
strong_aug = dict(jitter_p=0.8, grayscale_p=0.2, blur_p=0.5, blur_sigma=(0.1, 2.0),
                  reference_crop=None, cutmix_p=0.5)
# Evaluated weights: None = as trained; a momentum m = an exponential moving average of
# the weights (time constant 1/m iterations), validated beside the raw weights.
eval_weight_average = None

geometry = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomLongSideResize', ratio_range=(0.5, 2.0)),
]
labeled_pipeline = geometry + [
    dict(type='PadToCrop', crop_size=crop_size, seg_pad_val=255),
    dict(type='RandomCrop', crop_size=(crop_size, crop_size)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
unlabeled_pipeline = geometry + [
    dict(type='PadToCrop', crop_size=crop_size, seg_pad_val=254),
    dict(type='RandomCrop', crop_size=(crop_size, crop_size)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='StrongViews', num_views=1, blur_kernel=7),
    dict(type='CutMixBoxes', p=0.5),
    dict(type='PackUnlabeledInputs'),
]
val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DrawIndexedSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='SemiSegDataset',
        labeled=dict(type='SplitListDataset', split_lists=None, data_root=None,
                     metainfo=metainfo, pipeline=labeled_pipeline),
        unlabeled=dict(type='SplitListDataset', split_lists=None, data_root=None,
                       metainfo=metainfo, pipeline=unlabeled_pipeline),
        num_strong_views=1,
        mix_batch=True))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='SplitListDataset', split_lists=None, data_root=None,
                 metainfo=metainfo, pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# Unified optimiser (docs/methods/README.md#optimiser-and-schedule): SGD, momentum 0.9,
# wd 1e-4, poly 0.9, head x10.
# lr_0 = 0.05 (Pascal: 0.001): the narrow network on 64 px crops learns slowly; at 2000
# iterations 0.05 beats 0.02 by 6.5 mIoU on all labels (80.2 vs 73.7, README).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=num_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=num_iters, val_interval=num_iters // 5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
