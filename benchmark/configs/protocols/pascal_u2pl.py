# Pascal VOC 2012 aug with U2PL's blended splits: the Pascal protocol at crop 513.
_base_ = ['./pascal.py']
crop_size = 513
