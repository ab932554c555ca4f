# Cityscapes on the ViT + DPT network, as UniMatch V2's configs/cityscapes.yaml and logs:
# crop 798 (57 x 14), 180 epochs over the unlabeled set, 8 + 8 images per step (2 per GPU
# x 4 GPUs), lr 5e-6 (head x40, vit_dpt.py), the protocol's OHEM labeled loss, sliding-window
# evaluation with window = crop (798), stride int(2/3 window) = 532, last windows moved inside.
crop_size = 798
num_epochs = 180
batch_size = 8
train_dataloader = dict(batch_size=batch_size)
# UniMatch V2's evaluate() moves the last window inside the image (every window 798 px),
# which is MMSeg's rule, not UniMatch V1's clipped one.
model = dict(segmentor=dict(test_cfg=dict(window_rule='mmseg')))
