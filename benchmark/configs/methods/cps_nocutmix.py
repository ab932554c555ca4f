# CPS without CutMix (docs/methods/cps.md): lambda 1.5 (VOC) / 6 (Cityscapes).
model = dict(type='CPSNoCutMix', cps_weight=1.5, cutmix=False, predict_on='student')
train_dataloader = dict(dataset=dict(num_strong_views=0, mix_batch=False))
protocol_overrides = dict(cityscapes=dict(model=dict(cps_weight=6.0)))
