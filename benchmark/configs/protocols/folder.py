# Your own data (protocol folder, docs/protocols.md#your-own-data): the Pascal protocol's
# network, pipeline and schedule (crop 321, whole-image evaluation); classes come from the
# dataset's classes.txt. Change anything with --cfg-options (e.g. crop_size=512).
_base_ = ['./pascal.py']
