# UniMatch (docs/methods/unimatch.md): FP branch + two strong views, single model, no EMA.
model = dict(type='UniMatch', conf_thresh=0.95, fp_dropout=0.5)
train_dataloader = dict(dataset=dict(num_strong_views=2, mix_batch=True))
# Cityscapes: threshold 0, as in UniMatch's code and README (the first arXiv version: 0.95).
protocol_overrides = dict(cityscapes=dict(model=dict(conf_thresh=0.0)))
