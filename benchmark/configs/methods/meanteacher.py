# Mean Teacher, TorchSemiSeg variant (docs/methods/meanteacher.md): weak views only, no mixing.
model = dict(
    type='MeanTeacher',
    consistency_weight=100.0,
    ema_momentum=0.99,
    ema_buffers='skip',
    teacher_train_mode=True,
    predict_on='teacher')
train_dataloader = dict(dataset=dict(num_strong_views=0, mix_batch=False))
