# Built-in protocol on the ViT + DPT network: a CPU smoke path, not a tuned setting. No
# pretrained ViT exists for the generated data (the built-in pretrained backbone is a
# ResNet-18), so the ViT starts from random init and one lr (1e-3, head x1) trains it all.
# The crop stays 64 px: timm:test_vit (patch 16) reads 4 x 4 tokens; a patch-14 ViT needs
# --cfg-options crop_size=56 or 70.
pretrained = 'none'
optim_wrapper = dict(optimizer=dict(lr=1e-3),
                     paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=1.0)}))
