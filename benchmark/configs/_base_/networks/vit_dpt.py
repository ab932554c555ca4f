# ViT + DPT network (--backbone timm:<vit>, benchmark/models/timm_vit.py and timm_dpt_head.py),
# merged over the protocol for every method alike. Optimiser as UniMatch V2's code: AdamW,
# betas (0.9, 0.999), weight decay 0.01 on every parameter, the backbone at the base lr and
# the decode head 40x higher, poly 0.9 over the run (the protocol's PolyLR). A protocol file
# vit_dpt_<dataset>.py beside this one then sets crop, schedule, batch and lr.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=5e-6, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=40.0)}))
