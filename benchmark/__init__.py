"""Semi-supervised semantic segmentation benchmark suite on MMSegmentation 1.x.

The harness (CLI, protocols, data, semi-supervised segmentor base, runner, results)
lives in this package; method plugins live in the top-level ``methods`` package.
"""

__version__ = "0.1.0"
