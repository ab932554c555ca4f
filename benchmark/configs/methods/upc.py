# UPC with RAS (Fang et al., ICCV 2023) on offline self-training ("ST"): round 0 trains
# the supervised teacher; its argmax (no threshold) and entropy map are stored for every
# unlabeled image (single scale, no flip; sliding window of the training crop); round 1
# re-initialises the student and trains it on B_l = 8 labeled + B_u = 4 pseudo-labeled
# crops, each giving 3 UPC pairs (k = 2, 3, 5 of a 4 x 4 grid), then photometric views.
# [choice] Built-in protocol: the two rounds split its max_iters in halves, so a UPC run
# costs about one run of the protocol; real protocols (overrides below) train the teacher
# and the student for the full schedule each.
model = dict(
    type='UPC',
    unsup_weight=1.0,
    patch_grid=4,
    ks=(2, 3, 5),
    blur_kernel=13,
    data_preprocessor=dict(type='SelfTrainingDataPreProcessor'))
train_cfg = dict(
    type='SelfTrainingLoop',
    labeling=dict(mode='slide', stride_ratio=2 / 3, flip=False, store_entropy=True),
    rounds=[
        dict(length=0.5, labeled_batch=16),
        dict(length=0.5, labeled_batch=8, unlabeled_batch=4, reinit_student=True),
    ])
# (names starting with __ are helpers, not config keys)
__full_rounds = [
    dict(length=1.0, labeled_batch=16),
    dict(length=1.0, labeled_batch=8, unlabeled_batch=4, reinit_student=True),
]
protocol_overrides = dict(
    synthetic=dict(model=dict(blur_kernel=7)),  # the protocol's strong-view kernel at 64 px
    # Pascal images are labelled whole (at most 500 px), Cityscapes by sliding window.
    pascal=dict(train_cfg=dict(rounds=__full_rounds, labeling=dict(mode='whole'))),
    cityscapes=dict(train_cfg=dict(rounds=__full_rounds)))
