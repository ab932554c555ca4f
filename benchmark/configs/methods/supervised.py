# Supervised-only (docs/methods/supervised.md): labeled crops only, B_l = 16, same
# iteration count T as the semi-supervised methods.
model = dict(type='SupervisedOnly')
train_dataloader = dict(batch_size=16, dataset=dict(labeled_only=True))
