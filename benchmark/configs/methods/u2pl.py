# U2PL, Wang et al., CVPR 2022 (docs/methods/u2pl.md). Paper values (supplement Table A1 and
# the official code): EMA 0.99 incl. BN buffers with the teacher in eval mode, restarted at the
# end of the warm start; teacher evaluated (the student during the warm start).
model = dict(
    type='U2PL',
    unsup_weight=1.0,          # eta
    contrast_weight=0.1,       # lambda_c
    contrast_loss='infonce',   # L_c; 'binary' = L_b of the supplement (Sec. D)
    alpha_0=20.0,              # % unreliable at t = 0, alpha_t = alpha_0 (1 - t/T)
    low_rank=3,                # r_l
    high_rank=20,              # r_h
    anchor_threshold=0.3,      # delta_p
    temperature=0.5,           # tau
    num_anchors=256,           # per class (the official code's 256 x 50, see the notes)
    num_negatives=50,          # per anchor
    bank_size=30000,
    bank_size_class0=50000,
    rep_channels=256,
    warm_start_ratio=1 / 80,   # E_0 / E: 1 of Pascal's 80 epochs
    cutmix_prob=0.5,
    ema_momentum=0.99,
    ema_buffers='ema',
    predict_on='teacher')
train_dataloader = dict(dataset=dict(num_strong_views=0, mix_batch=False))
protocol_overrides = dict(
    # warm start: 20 epochs (supplement) of the unified Cityscapes schedule's 240
    cityscapes=dict(model=dict(warm_start_ratio=20 / 240)),
    # Built-in protocol (64 px crops, batch 8 + 8, decoder 32 channels wide). Representation
    # width = the decoder's width, as in the paper (256 = 256); 256 channels would cost more
    # than the whole network here. Banks hold the same number of iterations of features as
    # the paper's: a 64 px batch has 16 x 16^2 stride-4 pixels per step against 32 x 129^2
    # for Pascal (513 px, 16 + 16), about 1/130 as many: 30000 / 50000 become about
    # 230 / 385, rounded to 240 / 400 (the paper's 3 : 5).
    # M and N stay: anchors and negatives are drawn with replacement, so small pools do not
    # bias the loss, and at width 32 they cost next to nothing.
    synthetic=dict(model=dict(rep_channels=32, bank_size=240, bank_size_class0=400)))
