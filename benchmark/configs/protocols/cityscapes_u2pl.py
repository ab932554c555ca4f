# Cityscapes fine with U2PL's splits (protocol cityscapes_u2pl): the Cityscapes protocol with
# U2PL's OHEM setting (experiments/cityscapes/744/ours/config.yaml, criterion ohem, and
# u2pl/utils/loss_helper.py OhemCrossEntropy2dTensor): the same keep rule with min_kept
# 100 000 per GPU batch of 2 images.
_base_ = ['./cityscapes.py']
model = dict(segmentor=dict(decode_head=dict(loss_decode=dict(min_kept=100000))))
