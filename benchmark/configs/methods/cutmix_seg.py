# CutMix-Seg (docs/methods/cutmix_seg.md): EMA 0.99 incl. BN buffers, teacher evaluated,
# weak views only.
model = dict(
    type='CutMixSeg',
    consistency_weight=1.0,
    conf_thresh=0.97,
    mask_prop=0.5,
    ema_momentum=0.99,
    ema_buffers='ema',
    predict_on='teacher')
train_dataloader = dict(dataset=dict(num_strong_views=0, mix_batch=False))
