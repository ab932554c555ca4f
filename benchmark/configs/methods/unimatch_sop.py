# UniMatch + SOP (docs/methods/unimatch_sop.md): UniMatch with conf^2-weighted eq.-13
# terms, tau 0.25. Thresholded variant: --cfg-options model.keep_threshold=True
# (m = 1[conf >= conf_thresh], w = 1).
model = dict(
    type='UniMatchSOP',
    sop_weight=0.25,
    conf_power=2.0,
    keep_threshold=False,
    conf_thresh=0.95,
    fp_dropout=0.5,
    patch_grid=4,
    phi=0.4,
    alpha=0.5,
    beta=0.5,
    epsilon=0.05,
    sinkhorn_iters=50)
train_dataloader = dict(dataset=dict(num_strong_views=2, mix_batch=True))
# Cityscapes: UniMatch's threshold 0, used only by the thresholded variant.
protocol_overrides = dict(cityscapes=dict(model=dict(conf_thresh=0.0)))
