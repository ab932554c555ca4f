# UniMatch V2 (docs/methods/unimatch_v2.md): EMA teacher 0.996 incl. buffers (evaluated, as
# the paper's numbers), two strong views CutMix'd with the batch in reverse order (no mix
# batch), Complementary Dropout in the strong stream. Threshold 0.95 on Pascal and
# Cityscapes. Its optimiser (AdamW, backbone lr / 40) belongs to the ViT + DPT network
# (configs/_base_/networks/vit_dpt.py), the same for every method on that network.
model = dict(
    type='UniMatchV2',
    conf_thresh=0.95,
    unsup_weight=1.0,
    drop_ratio=0.5,
    ema_momentum=0.996,
    ema_buffers='ema',
    predict_on='teacher')
train_dataloader = dict(dataset=dict(num_strong_views=2, mix_batch=False))
