"""The network a run trains (``--backbone``) and the protocol settings that come with it.

A CNN backbone keeps the protocol's DeepLabv3+ network and settings. A timm ViT selects the
DPT network (:func:`~benchmark.models.backbones.apply_backbone`) and, for every method
alike, its protocol settings: ``configs/_base_/networks/vit_dpt.py`` (the optimiser) and
``vit_dpt_<dataset>.py`` (crop, schedule, batch), as UniMatch V2 trains that network.
The choice is stored as ``network_name`` in the config, so it enters the config hash, and
in the run record.
"""

from __future__ import annotations

from mmengine.config import Config

from benchmark.errors import BenchmarkError
from benchmark.models.backbones import DEEPLAB_NETWORK, BackbonePreset, apply_backbone
from benchmark.paths import CONFIG_ROOT

NETWORK_CONFIGS = CONFIG_ROOT / "_base_" / "networks"


def apply_network(cfg: Config, preset: BackbonePreset, dataset: str) -> None:
    """Put ``preset`` into ``cfg`` with the settings of its network on ``dataset``.

    Args:
        cfg: The run's config (protocol base and method leaf merged).
        preset: The ``--backbone`` choice.
        dataset: The protocol's dataset family (``pascal``, ``cityscapes``, ``synthetic``).
    """
    apply_backbone(cfg.model.segmentor, preset)
    cfg.backbone_name = preset.name
    if preset.network == DEEPLAB_NETWORK:
        return
    for path in (NETWORK_CONFIGS / f"{preset.network}.py",
                 NETWORK_CONFIGS / f"{preset.network}_{dataset}.py"):
        if path.is_file():
            cfg.merge_from_dict(Config.fromfile(path).to_dict())
    cfg.network_name = preset.network


def check_patch_multiple(cfg: Config, preset: BackbonePreset | None) -> None:
    """Stop before training if the crop is not a multiple of the ViT's patch size.

    Raises:
        BenchmarkError: One line naming the two nearest crops that fit.
    """
    patch = preset.patch_size if preset else None
    crop = cfg.get("crop_size")
    if not patch or crop is None or crop % patch == 0:
        return
    below, above = max(crop // patch, 1) * patch, (crop // patch + 1) * patch
    raise BenchmarkError(
        f"crop size {crop} is not a multiple of {patch}, the patch size of --backbone "
        f"{preset.name}; pass --cfg-options crop_size={below} or crop_size={above}")


def network_label(cfg: Config) -> str:
    """The run's network: ``vit_dpt`` for a ViT backbone, else ``deeplabv3plus``."""
    return str(cfg.get("network_name") or DEEPLAB_NETWORK)


__all__ = ["apply_network", "check_patch_multiple", "network_label"]
