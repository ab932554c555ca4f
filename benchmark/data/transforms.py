"""Transforms of the unified (UniMatch-style) pipeline (docs/methods/README.md#data-pipeline).

MMSeg's ``LoadImageFromFile``, ``LoadAnnotations``, ``RandomCrop``, ``RandomFlip`` and
``PackSegInputs`` do the loading, cropping, flipping and packing. Written here are
only the steps MMSeg lacks:

* ``RandomLongSideResize``: UniMatch's resize (long side drawn relative to the image's
  own long side; MMSeg's ``RandomResize`` scales relative to one fixed scale).
* ``PadToCrop``: pads *before* cropping with a label sentinel, so the crop-padding mask
  of unlabeled images survives cropping and flipping inside ``gt_seg_map``.
* ``StrongViews``: photometric copies of the weak crop (geometry shared, so pixels stay
  aligned; each view draws its own colour jitter, grayscale and blur).
* ``CutMixBoxes``: UniMatch's CutMix box, one per strong view.
* ``PackUnlabeledInputs``: packs weak and strong views, the pad mask and boxes; the
  unlabeled ground truth is packed separately as ``hidden_gt`` for diagnostics only.
"""

from __future__ import annotations

import math

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from benchmark.data.photometric import photometric_recipe

UNLABELED_PAD = 254
IGNORE = 255


@TRANSFORMS.register_module()
class RandomLongSideResize(BaseTransform):
    """Resize so the long side becomes ``randint(int(r0*L), int(r1*L))`` (inclusive).

    Args:
        ratio_range: ``(r0, r1)`` relative to the image's own long side ``L``.
    """

    def __init__(self, ratio_range: tuple[float, float] = (0.5, 2.0)) -> None:
        self.ratio_range = ratio_range

    def transform(self, results: dict) -> dict:
        h, w = results["img"].shape[:2]
        long_side = max(h, w)
        new_long = np.random.randint(int(self.ratio_range[0] * long_side),
                                     int(self.ratio_range[1] * long_side) + 1)
        if h >= w:
            new_h, new_w = new_long, int(w * new_long / h + 0.5)
        else:
            new_h, new_w = int(h * new_long / w + 0.5), new_long
        results["img"] = mmcv.imresize(results["img"], (new_w, new_h), interpolation="bilinear")
        for key in results.get("seg_fields", []):
            results[key] = mmcv.imresize(results[key], (new_w, new_h), interpolation="nearest")
        results["img_shape"] = (new_h, new_w)
        return results


@TRANSFORMS.register_module()
class PadToCrop(BaseTransform):
    """Pad right and bottom up to ``crop_size`` (image with 0, labels with ``seg_pad_val``).

    Args:
        crop_size: ``(h, w)`` or one int.
        seg_pad_val: 255 for labeled images, 254 (the pad sentinel) for unlabeled ones.
    """

    def __init__(self, crop_size: int | tuple[int, int], seg_pad_val: int = IGNORE) -> None:
        self.crop_size = (crop_size, crop_size) if isinstance(crop_size, int) else crop_size
        self.seg_pad_val = seg_pad_val

    def transform(self, results: dict) -> dict:
        h, w = results["img"].shape[:2]
        pad_h, pad_w = max(self.crop_size[0] - h, 0), max(self.crop_size[1] - w, 0)
        if pad_h or pad_w:
            padding = (0, 0, pad_w, pad_h)
            results["img"] = mmcv.impad(results["img"], padding=padding, pad_val=0)
            for key in results.get("seg_fields", []):
                results[key] = mmcv.impad(results[key], padding=padding,
                                          pad_val=self.seg_pad_val)
            results["img_shape"] = results["img"].shape[:2]
        return results


@TRANSFORMS.register_module()
class StrongViews(BaseTransform):
    """Add ``num_views`` photometric copies of the (BGR, uint8) weak crop as ``strong_imgs``.

    Per view, by default as in UniMatch: ColorJitter(0.5, 0.5, 0.5, 0.25) with p=0.8,
    grayscale with p=0.2, Gaussian blur with sigma ~ U(0.1, 2.0) with p=0.5. The
    probabilities and the sigma range are protocol settings (``strong_aug`` in a
    protocol config, applied by :func:`benchmark.runs.protocol_settings.apply_strong_augmentation`).

    Args:
        num_views: Number of strong views (0 adds none).
        photometric: If False the views are plain copies (methods without strong
            photometric augmentation, e.g. CPS).
        blur_kernel: Odd Gaussian kernel size.
        jitter_p: Probability of the colour jitter.
        grayscale_p: Probability of the grayscale conversion.
        blur_p: Probability of the Gaussian blur.
        blur_sigma: Range ``(min, max)`` the blur's sigma is drawn from, in pixels.
    """

    def __init__(self, num_views: int = 1, photometric: bool = True,
                 blur_kernel: int = 13, jitter_p: float = 0.8, grayscale_p: float = 0.2,
                 blur_p: float = 0.5, blur_sigma: tuple[float, float] = (0.1, 2.0)) -> None:
        self.num_views = num_views
        self.photometric = photometric
        self.augment = photometric_recipe(blur_kernel, jitter_p, grayscale_p, blur_p,
                                          blur_sigma)

    def transform(self, results: dict) -> dict:
        weak = np.ascontiguousarray(results["img"][..., ::-1].transpose(2, 0, 1))  # RGB CHW
        views = []
        for _ in range(self.num_views):
            view = torch.from_numpy(weak.copy())
            if self.photometric:
                view = self.augment(view)
            views.append(view.numpy().transpose(1, 2, 0)[..., ::-1])  # back to BGR HWC
        results["strong_imgs"] = views
        return results


def unimatch_cutmix_box(size: int, p: float = 0.5, area: tuple[float, float] = (0.02, 0.4),
                        ratio: tuple[float, float] = (0.3, 1 / 0.3)) -> np.ndarray:
    """UniMatch's CutMix box on an ``size x size`` crop (LiheYoung/UniMatch ``obtain_cutmix_box``).

    Args:
        size: Crop side ``S``.
        p: Probability of a non-empty box.
        area: Range of the box area as a fraction of ``S^2``.
        ratio: Range of the aspect ratio ``r``.

    Returns:
        ``uint8 [S, S]`` mask, 1 where pixels come from the mix partner.
    """
    mask = np.zeros((size, size), dtype=np.uint8)
    if np.random.random() > p:
        return mask
    box_area = np.random.uniform(*area) * size * size
    while True:
        r = np.random.uniform(*ratio)
        w, h = int(math.sqrt(box_area / r)), int(math.sqrt(box_area * r))
        x, y = np.random.randint(0, size), np.random.randint(0, size)
        if x + w <= size and y + h <= size:
            break
    mask[y:y + h, x:x + w] = 1
    return mask


@TRANSFORMS.register_module()
class CutMixBoxes(BaseTransform):
    """Add one UniMatch CutMix box per strong view as ``cutmix_boxes`` ``[k, S, S]``.

    Args:
        p: Probability of a non-empty box.
    """

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def transform(self, results: dict) -> dict:
        h, w = results["img"].shape[:2]
        if h != w:
            raise ValueError(f"CutMixBoxes expects square crops, got {h}x{w}")
        num = len(results.get("strong_imgs", []))
        boxes = [unimatch_cutmix_box(h, self.p) for _ in range(num)]
        results["cutmix_boxes"] = np.stack(boxes) if boxes else np.zeros((0, h, w), np.uint8)
        return results


def _to_chw_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@TRANSFORMS.register_module()
class PackUnlabeledInputs(BaseTransform):
    """Pack an unlabeled sample: weak image, strong views, pad mask, boxes, hidden GT.

    The ground truth (if the dataset has one) is carried only as ``hidden_gt`` for
    pseudo-label diagnostics; the method's loss never receives it.
    """

    def transform(self, results: dict) -> dict:
        seg = results["gt_seg_map"]
        pad_mask = seg == UNLABELED_PAD
        hidden_gt = np.where(pad_mask, IGNORE, seg).astype(np.int64)
        return {
            "inputs": _to_chw_tensor(results["img"]),
            "strong": [_to_chw_tensor(v) for v in results.get("strong_imgs", [])],
            "pad_mask": torch.from_numpy(pad_mask),
            "cutmix_boxes": torch.from_numpy(results["cutmix_boxes"]),
            "hidden_gt": torch.from_numpy(hidden_gt),
            "img_path": results.get("img_path", ""),
        }
