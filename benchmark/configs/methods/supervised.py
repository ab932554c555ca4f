# Supervised-only (docs/methods/supervised.md): labeled crops only, the protocol's labeled
# batch B_l (the semi-supervised methods' labeled batch, 8 on the built-in protocol), same
# iteration count T as the semi-supervised methods.
model = dict(type='SupervisedOnly')
train_dataloader = dict(dataset=dict(labeled_only=True))
