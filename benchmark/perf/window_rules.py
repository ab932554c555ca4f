"""How much the two sliding-window rules differ at Cityscapes geometry.

``python -m benchmark.perf.window_rules [--backbone r18] [--images 1] [--seed 0]
[--init mmseg|pytorch] [--calibrate-bn]``

Builds the Cityscapes protocol's network (``benchmark/configs/protocols/cityscapes.py``:
DeepLabv3+ with the protocol's head, 19 classes, BN instead of SyncBN) with a fixed random
initialisation (``torch.manual_seed(seed)``, no pretrained weights), in eval mode, and
predicts ``images`` random normal images of 1024 x 2048 (the normalised input; with
``--calibrate-bn`` the BN statistics are first set from a pass over each image) with the
protocol's window 801 and stride 534 under both rules. It prints the fraction of pixels
whose covering windows are the same boxes under both rules (geometry only) and the
fraction of predicted labels that differ (overall, and among the pixels the rules cover
differently).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from benchmark.models.sliding_window import WINDOW_RULES, covered_by_same_windows

HEIGHT, WIDTH = 1024, 2048


def _quiet_logger() -> None:
    """Keep MMEngine's per-parameter initialisation log off standard output."""
    from mmengine.logging import MMLogger

    MMLogger.get_instance("window_rules", log_level="ERROR")


def calibrate_batch_norm(network, image: torch.Tensor) -> None:
    """Set every BN layer's running statistics to those of one forward pass over ``image``.

    A randomly initialised network in eval mode (running mean 0, variance 1) predicts one
    class everywhere; with the statistics of its input its predictions vary over the image.
    """
    for module in network.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: exactly this pass's statistics
    network.train()
    network.extract_feat(image)
    network.eval()


def cityscapes_network(backbone: str | None, seed: int, init: str = "mmseg"):
    """The Cityscapes protocol's segmentor, randomly initialised with ``seed``, eval mode.

    Args:
        backbone: Backbone preset, None for the protocol's.
        seed: ``torch.manual_seed`` before the network is built.
        init: ``"mmseg"`` (``init_weights()``, what a run from random init gets) or
            ``"pytorch"`` (the layers' constructor defaults only).
    """
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    import benchmark.models  # noqa: F401 - registers the segmentor and heads
    from benchmark.models.backbones import apply_backbone, backbone_preset
    from benchmark.paths import CONFIG_ROOT
    from benchmark.runs.protocol_settings import resolve_norm

    register_all_modules(init_default_scope=True)
    _quiet_logger()
    cfg = Config.fromfile(CONFIG_ROOT / "protocols" / "cityscapes.py")
    cfg.model.segmentor.decode_head.num_classes = 19
    if backbone:
        apply_backbone(cfg.model.segmentor, backbone_preset(backbone))
    cfg.model.segmentor.backbone.pop("init_cfg", None)
    resolve_norm(cfg)
    torch.manual_seed(seed)
    network = MODELS.build(cfg.model.segmentor)
    if init == "mmseg":
        network.init_weights()
    return network.eval(), cfg.model.segmentor.test_cfg


@torch.no_grad()
def measure(backbone: str | None = None, images: int = 1, seed: int = 0,
            init: str = "mmseg", calibrate: bool = False) -> dict:
    """Covered-by-the-same-windows and differing-label fractions (see the module docstring).

    Also reports how varied the official rule's prediction is (distinct labels, the most
    frequent label's share) and the mean absolute difference of the class probabilities.
    """
    network, test_cfg = cityscapes_network(backbone, seed, init)
    same = covered_by_same_windows(HEIGHT, WIDTH, test_cfg.crop_size, test_cfg.stride)
    generator = torch.Generator().manual_seed(seed)
    differing = differing_where_covered_differently = 0
    counts = torch.zeros(19, dtype=torch.long)
    prob_difference = 0.0
    start = time.perf_counter()
    for _ in range(images):
        image = torch.randn(1, 3, HEIGHT, WIDTH, generator=generator)
        if calibrate:
            calibrate_batch_norm(network, image)
        meta = dict(ori_shape=(HEIGHT, WIDTH), img_shape=(HEIGHT, WIDTH),
                    pad_shape=(HEIGHT, WIDTH), padding_size=[0, 0, 0, 0])
        probs = {}
        for rule in WINDOW_RULES:
            network.test_cfg.window_rule = rule
            probs[rule] = network.slide_inference(image, [meta])[0]
        labels = {rule: p.argmax(dim=0) for rule, p in probs.items()}
        counts += torch.bincount(labels["official"].flatten(), minlength=19)
        prob_difference += float((probs["official"] - probs["mmseg"]).abs().sum(dim=0).mean())
        changed = labels["official"] != labels["mmseg"]
        differing += int(changed.sum())
        differing_where_covered_differently += int(changed[~same].sum())
    pixels = images * HEIGHT * WIDTH
    return {
        "geometry": f"{HEIGHT}x{WIDTH}, window {list(test_cfg.crop_size)}, "
                    f"stride {list(test_cfg.stride)}",
        "network": f"{type(network.backbone).__name__}-"
                   f"{getattr(network.backbone, 'depth', '')} + "
                   f"{type(network.decode_head).__name__}, random init ({init}) seed {seed}"
                   + (", BN statistics of the image" if calibrate else ""),
        "images": images,
        "covered_by_same_windows": float(same.float().mean()),
        "differing_labels": differing / pixels,
        "differing_labels_where_covered_differently":
            differing_where_covered_differently / (images * int((~same).sum())),
        "distinct_labels_official": int((counts > 0).sum()),
        "most_frequent_label_share_official": float(counts.max() / counts.sum()),
        "mean_l1_probability_difference": prob_difference / images,
        "seconds": time.perf_counter() - start,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.perf.window_rules",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default=None,
                        help="backbone preset (default: the protocol's ResNet-101 v1c)")
    parser.add_argument("--images", type=int, default=1, help="random images")
    parser.add_argument("--seed", type=int, default=0, help="network and image seed")
    parser.add_argument("--init", choices=("mmseg", "pytorch"), default="mmseg",
                        help="random initialisation: init_weights() or the layers' defaults")
    parser.add_argument("--calibrate-bn", action="store_true",
                        help="set BN statistics from one pass over each image first")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.backbone, args.images, args.seed, args.init,
                             args.calibrate_bn), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
