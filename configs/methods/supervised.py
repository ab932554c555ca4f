# Supervised-only: labeled crops only, B_l = 16, same iteration count T (METHODS.md 1).
model = dict(type='SupervisedOnly')
train_dataloader = dict(batch_size=16, dataset=dict(labeled_only=True))
