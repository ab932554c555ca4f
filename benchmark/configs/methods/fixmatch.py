# FixMatch-style baseline (docs/methods/fixmatch.md): one strong view, UniMatch mix batch.
model = dict(type='FixMatch', conf_thresh=0.95)
train_dataloader = dict(dataset=dict(num_strong_views=1, mix_batch=True))
protocol_overrides = dict(cityscapes=dict(model=dict(conf_thresh=0.0)))
