# CPS with CutMix (docs/methods/cps.md): lambda 1 (VOC) / 5 (Cityscapes), no photometric
# strong augmentation.
model = dict(type='CPS', cps_weight=1.0, cutmix=True, mask_prop_range=(0.25, 0.5),
             mask_boxes=3, predict_on='student')
train_dataloader = dict(dataset=dict(num_strong_views=0, mix_batch=False))
protocol_overrides = dict(cityscapes=dict(model=dict(cps_weight=5.0)))
