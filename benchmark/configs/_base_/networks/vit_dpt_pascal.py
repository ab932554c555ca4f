# Pascal VOC 2012 on the ViT + DPT network, as UniMatch V2's configs/pascal.yaml and logs:
# crop 518 (37 x 14), 60 epochs over the unlabeled set, 16 + 16 images per step (4 per GPU
# x 4 GPUs), lr 5e-6 (head x40, vit_dpt.py), mean CE, whole-image evaluation with the image
# resized to the nearest multiples of the patch size (TimmViTBackbone) and the logits back.
crop_size = 518
num_epochs = 60
batch_size = 16
train_dataloader = dict(batch_size=batch_size)
