# SOP's random-noise baseline (docs/methods/random_noise.md): SOP with y* = cell-noised
# pseudo-label.
model = dict(
    type='RandomNoise',
    noise_fraction=0.025,
    unsup_weight=2.0,
    sop_weight=0.25,
    conf_power=2.0,
    ema_momentum=0.999,
    ema_buffers='ema',
    predict_on='teacher')
train_dataloader = dict(dataset=dict(num_strong_views=1, mix_batch=True))
protocol_overrides = dict(cityscapes=dict(model=dict(unsup_weight=6.0)))
