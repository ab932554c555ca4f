"""Every knob of the built-in synthetic segmentation dataset, in one frozen dataclass.

The dataset is a pure function of a :class:`SyntheticSpec` and :data:`GENERATOR_VERSION`:
two materialisations with equal fingerprints hold identical files. Change a default here
(or pass overrides) to tune difficulty; bump :data:`GENERATOR_VERSION` whenever the
drawing code changes its output for an unchanged spec, so stale caches are regenerated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

GENERATOR_VERSION = "1"

IGNORE_INDEX = 255

# Shape name -> number of sides of the regular polygon (0 = circle).
SHAPE_SIDES: Dict[str, int] = {
    "circle": 0,
    "triangle": 3,
    "square": 4,
    "pentagon": 5,
    "hexagon": 6,
}

TEXTURES: Tuple[str, ...] = ("stripes", "checker", "dots", "solid")

CLUTTER_KINDS: Tuple[str, ...] = ("line", "ring", "textured_blob", "plain_shape")


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of the procedurally generated dataset.

    Ranges are ``(low, high)`` pairs sampled uniformly per image or per object. Lengths
    are in pixels, colours and noise in ``[0, 1]`` intensity units.

    Attributes:
        image_size: Height and width of every (square) image.
        num_train: Number of training images (labeled pool plus unlabeled). 200 makes
            1/8 (25 labeled images) clearly label-scarce: supervised-only plateaus there
            while all 200 labels train a far better model on the default schedule.
        num_val: Number of validation images.
        seed: Root seed; image ``i`` of a split depends only on (spec, split, i).
        object_classes: ``(shape, texture)`` of object classes 1..K, most frequent first.
            Identity needs both: every shape and every texture occurs in several classes.
        class_frequency_ratio: Sampling probability of the most frequent object class
            divided by that of the rarest; probabilities in between are geometric.
        num_objects: Inclusive range of the number of objects per image.
        object_radius: Area-equivalent radius of an object (a polygon has the area of a
            circle of this radius).
        texture_period: Spatial period of object and clutter textures.
        min_texture_contrast: Minimum luminance difference between the two colours of a
            texture, so texture survives JPEG chroma subsampling.
        object_shading: Amplitude of a random linear brightness ramp across an object.
        background_noise_cells: Grid sizes of the low-frequency background noise octaves.
        background_noise_amplitude: Amplitude of each background noise octave.
        num_clutter: Inclusive range of the number of background distractors per image.
        clutter_weights: Relative frequency of the kinds in :data:`CLUTTER_KINDS`.
        clutter_line_width: Width range of thin line distractors.
        clutter_ring_radius: Radius range of ring (outline) distractors.
        clutter_blob_radius: Semi-major axis range of elongated, wobbly textured blobs
            (object textures on non-object shapes).
        clutter_blob_aspect: Minor-to-major axis ratio range of those blobs.
        clutter_shape_radius: Radius range of object-shaped distractors with non-object
            textures (``clutter_shape_textures``).
        clutter_shape_textures: Textures of object-shaped distractors.
        pixel_noise_std: Range of the per-image standard deviation of Gaussian pixel noise.
        jpeg_quality: Inclusive range of the per-image JPEG quality.
        ignore_border_width: Full width of the ignore (255) band centred on every visible
            object boundary; 0 disables it.
        split_denominators: ``k`` of the labeled partitions ``1_k``; labeled sets are nested.
    """

    image_size: int = 64
    num_train: int = 200
    num_val: int = 200
    seed: int = 0
    object_classes: Tuple[Tuple[str, str], ...] = (
        ("circle", "stripes"),
        ("square", "checker"),
        ("triangle", "dots"),
    )
    class_frequency_ratio: float = 4.0
    num_objects: Tuple[int, int] = (1, 4)
    object_radius: Tuple[float, float] = (6.0, 20.0)
    texture_period: Tuple[float, float] = (4.0, 8.0)
    min_texture_contrast: float = 0.2
    object_shading: float = 0.15
    background_noise_cells: Tuple[int, ...] = (3, 8)
    background_noise_amplitude: Tuple[float, ...] = (0.25, 0.1)
    num_clutter: Tuple[int, int] = (2, 6)
    clutter_weights: Tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    clutter_line_width: Tuple[float, float] = (1.0, 2.0)
    clutter_ring_radius: Tuple[float, float] = (4.0, 14.0)
    clutter_blob_radius: Tuple[float, float] = (4.0, 10.0)
    clutter_blob_aspect: Tuple[float, float] = (0.3, 0.6)
    clutter_shape_radius: Tuple[float, float] = (4.0, 12.0)
    clutter_shape_textures: Tuple[str, ...] = ("solid",)
    pixel_noise_std: Tuple[float, float] = (0.01, 0.05)
    jpeg_quality: Tuple[int, int] = (70, 95)
    ignore_border_width: float = 1.5
    split_denominators: Tuple[int, ...] = (16, 8, 4, 2)

    def __post_init__(self) -> None:
        for shape, texture in self.object_classes:
            if shape not in SHAPE_SIDES:
                raise ValueError(f"unknown shape {shape!r}; choose from {sorted(SHAPE_SIDES)}")
            if texture not in TEXTURES:
                raise ValueError(f"unknown texture {texture!r}; choose from {TEXTURES}")
        if len(set(self.object_classes)) != len(self.object_classes):
            raise ValueError("object_classes must be distinct (shape, texture) pairs")
        if not 1 <= self.num_classes <= IGNORE_INDEX:
            raise ValueError(f"need 1..{IGNORE_INDEX - 1} object classes")
        if len(self.clutter_weights) != len(CLUTTER_KINDS):
            raise ValueError(f"clutter_weights needs one weight per kind in {CLUTTER_KINDS}")
        if len(self.background_noise_cells) != len(self.background_noise_amplitude):
            raise ValueError("background_noise_cells and _amplitude must have equal lengths")
        if self.num_train < 1 or self.num_val < 0:
            raise ValueError("need num_train >= 1 and num_val >= 0")
        if self.class_frequency_ratio < 1.0:
            raise ValueError("class_frequency_ratio must be >= 1")

    @property
    def num_classes(self) -> int:
        """Number of classes including background (class 0)."""
        return len(self.object_classes) + 1

    @property
    def class_names(self) -> Tuple[str, ...]:
        """Class names indexed by label value, e.g. ``'circle_stripes'``."""
        return ("background",) + tuple(f"{s}_{t}" for s, t in self.object_classes)

    @property
    def palette(self) -> List[Tuple[int, int, int]]:
        """Pascal VOC colours of the classes, indexed by label value."""
        return voc_colormap()[: self.num_classes]

    @property
    def object_class_probabilities(self) -> Tuple[float, ...]:
        """Sampling probability of object classes 1..K (geometric, decreasing)."""
        k = len(self.object_classes)
        ratio = self.class_frequency_ratio ** (-1.0 / max(k - 1, 1))
        weights = [ratio**i for i in range(k)]
        total = sum(weights)
        return tuple(w / total for w in weights)

    @property
    def split_names(self) -> Tuple[str, ...]:
        """Names of the labeled partitions, e.g. ``('1_16', '1_8', '1_4', '1_2')``."""
        return tuple(f"1_{k}" for k in self.split_denominators)

    def to_dict(self) -> Dict[str, Any]:
        """All knobs as JSON-ready values (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def fingerprint(self) -> str:
        """Hex SHA-256 of every knob and :data:`GENERATOR_VERSION`."""
        payload = {"generator_version": GENERATOR_VERSION, "spec": self.to_dict()}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def voc_colormap(n: int = 256) -> List[Tuple[int, int, int]]:
    """The Pascal VOC label colormap (index 255 is the ignore colour 224, 224, 192).

    Args:
        n: Number of colours.

    Returns:
        ``n`` RGB triples.
    """
    colours = []
    for index in range(n):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours.append((r, g, b))
    return colours
