# Data pipeline, loaders, optimiser and schedule shared by the real protocols
# (docs/methods/README.md#data-pipeline, #optimiser-and-schedule; docs/protocols.md).
# A protocol sets crop_size, num_epochs, lr and metainfo; the run's config builder then
# writes crop_size into every crop-dependent entry below (pad, crop, preprocessor size,
# sliding window) and derives the iterations T = num_epochs * floor(N_u / batch_size)
# from the split's unlabeled list. data_root and the split lists are filled in per run.
crop_size = 321
num_epochs = 80
batch_size = 8  # per branch: 8 labeled + 8 unlabeled
num_iters = 1000  # placeholder, replaced by the builder (see above)
pretrained = 'imagenet'  # the backbone's ImageNet checkpoint at the protocol's location

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
    dict(type='StrongViews', num_views=1),
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
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DrawIndexedSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='SemiSegDataset',
        labeled=dict(type='SplitListDataset', split_lists=None, data_root=None,
                     metainfo=None, pipeline=labeled_pipeline),
        unlabeled=dict(type='SplitListDataset', split_lists=None, data_root=None,
                       metainfo=None, pipeline=unlabeled_pipeline),
        num_strong_views=1,
        mix_batch=True))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='SplitListDataset', split_lists=None, data_root=None,
                 metainfo=None, pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# SGD, momentum 0.9, weight decay 1e-4, poly 0.9; the decode head's lr multiplier is a
# protocol setting (x10 on Pascal, x1 on Cityscapes).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.001, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=num_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=num_iters, val_interval=num_iters // 5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
