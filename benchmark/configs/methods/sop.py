# SOP (docs/methods/sop.md): EMA 0.999 incl. BN buffers, teacher evaluated, one strong
# view + box. GT-oracle diagnostic: --cfg-options model.perturbation=oracle.
model = dict(
    type='SOP',
    unsup_weight=2.0,
    sop_weight=None,  # tau: None = 0.25, or 1 for the oracle
    conf_power=2.0,
    perturbation='sop',
    patch_grid=4,
    phi=0.4,
    alpha=0.5,
    beta=0.5,
    epsilon=0.05,
    sinkhorn_iters=50,
    ema_momentum=0.999,
    ema_buffers='ema',
    predict_on='teacher')
train_dataloader = dict(dataset=dict(num_strong_views=1, mix_batch=True))
# Cityscapes: lambda = 6 (the SOP paper's appendix A.2).
protocol_overrides = dict(cityscapes=dict(model=dict(unsup_weight=6.0)))
