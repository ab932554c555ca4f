"""Drawing of one synthetic scene (image and label) from a numpy random generator.

A scene is a textured, low-frequency noise background with clutter (thin lines, shape
outlines, object-textured blobs, object-shaped plain or dotted patches), then 1-4
objects whose class is a (shape, texture) pair with random colours, size, rotation and
position (possibly occluding each other or leaving the frame), then Gaussian pixel noise.
Shapes are signed distance fields on pixel centres: the label is the sign of the field,
the image is antialiased with a one-pixel coverage ramp, and an ignore band of
``spec.ignore_border_width`` pixels is centred on every visible object boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .spec import CLUTTER_KINDS, IGNORE_INDEX, SHAPE_SIDES, SyntheticSpec

_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class Scene:
    """One drawn sample before encoding.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB image, noise included, JPEG not yet applied.
        label: ``(H, W)`` uint8 class map with values in ``0..K`` and 255 (ignore).
        jpeg_quality: Quality to encode ``image`` with.
    """

    image: np.ndarray
    label: np.ndarray
    jpeg_quality: int


def draw_scene(rng: np.random.Generator, spec: SyntheticSpec) -> Scene:
    """Draw one image and its label; the result is a pure function of ``rng``'s state.

    Args:
        rng: Generator seeded for this image only.
        spec: Dataset parameters.

    Returns:
        The scene.
    """
    size = spec.image_size
    centres = np.arange(size, dtype=np.float64) + 0.5
    x, y = np.meshgrid(centres, centres)
    image = _background(rng, spec, size)
    for _ in range(_randint(rng, spec.num_clutter)):
        _draw_clutter(rng, spec, x, y, image)
    label = _draw_objects(rng, spec, x, y, image)
    noise_std = rng.uniform(*spec.pixel_noise_std)
    image = image + rng.normal(0.0, noise_std, size=image.shape)
    image_u8 = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Scene(image=image_u8, label=label, jpeg_quality=_randint(rng, spec.jpeg_quality))


def _randint(rng: np.random.Generator, bounds: Tuple[int, int]) -> int:
    """Uniform integer in the inclusive range ``bounds``."""
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _background(rng: np.random.Generator, spec: SyntheticSpec, size: int) -> np.ndarray:
    """Random base colour plus octaves of smooth coloured noise."""
    image = np.broadcast_to(rng.uniform(0.2, 0.8, size=3), (size, size, 3)).copy()
    for cells, amplitude in zip(spec.background_noise_cells, spec.background_noise_amplitude):
        grid = rng.normal(0.0, amplitude, size=(cells + 1, cells + 1, 3))
        weights = _bilinear_weights(size, cells)
        rows = np.tensordot(weights, grid, axes=(1, 0))
        image += np.tensordot(rows, weights, axes=(1, 1)).transpose(0, 2, 1)
    return image


def _bilinear_weights(size: int, cells: int) -> np.ndarray:
    """``(size, cells + 1)`` matrix interpolating grid nodes at pixel centres."""
    position = (np.arange(size) + 0.5) / size * cells
    left = np.minimum(np.floor(position).astype(int), cells - 1)
    frac = position - left
    weights = np.zeros((size, cells + 1))
    weights[np.arange(size), left] = 1.0 - frac
    weights[np.arange(size), left + 1] = frac
    return weights


def _local(x: np.ndarray, y: np.ndarray, cx: float, cy: float, angle: float):
    """Coordinates relative to ``(cx, cy)`` in a frame rotated by ``angle``."""
    dx, dy = x - cx, y - cy
    c, s = math.cos(angle), math.sin(angle)
    return c * dx + s * dy, -s * dx + c * dy


def _shape_sdf(shape: str, u: np.ndarray, v: np.ndarray, radius: float) -> np.ndarray:
    """Signed distance to a circle or regular polygon of area ``pi * radius**2``."""
    sides = SHAPE_SIDES[shape]
    if sides == 0:
        return np.hypot(u, v) - radius
    apothem = radius * math.sqrt(math.pi / (sides * math.tan(math.pi / sides)))
    angles = 2.0 * math.pi * np.arange(sides) / sides
    projections = np.cos(angles)[:, None, None] * u + np.sin(angles)[:, None, None] * v
    return projections.max(axis=0) - apothem


def _blob_sdf(rng: np.random.Generator, u, v, semi_major: float, aspect: float):
    """Approximate signed distance to an elongated, wobbly ellipse (first-order estimate)."""
    semi_minor = semi_major * aspect
    scaled = np.hypot(u / semi_major, v / semi_minor)
    theta = np.arctan2(v / semi_minor, u / semi_major)
    wobble = np.ones_like(theta)
    for harmonic in (3, 4, 5):
        wobble += rng.uniform(0.0, 0.1) * np.cos(harmonic * theta + rng.uniform(0, 2 * math.pi))
    gradient = np.hypot(u / semi_major**2, v / semi_minor**2) / np.maximum(scaled, 1e-6)
    return (scaled - wobble) / np.maximum(gradient, 1e-6)


def _texture(rng: np.random.Generator, kind: str, x, y, cx, cy, period) -> np.ndarray:
    """Texture intensity in ``[0, 1]`` with a random orientation and phase."""
    u, v = _local(x, y, cx, cy, rng.uniform(0.0, 2.0 * math.pi))
    phase_u, phase_v = rng.uniform(0.0, 2.0 * math.pi, size=2)
    wave_u = 2.0 * math.pi * u / period + phase_u
    wave_v = 2.0 * math.pi * v / period + phase_v
    sharpness = period / (2.0 * math.pi)
    if kind == "stripes":
        wave = np.sin(wave_u)
    elif kind == "checker":
        wave = 1.5 * np.sin(wave_u) * np.sin(wave_v)
    elif kind == "dots":
        wave = 3.0 * ((np.cos(wave_u) + np.cos(wave_v)) / 2.0 - 0.5)
    elif kind == "solid":
        return np.ones_like(u)
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return np.clip(0.5 + sharpness * wave, 0.0, 1.0)


def _colour_pair(rng: np.random.Generator, min_contrast: float):
    """Two independent random colours whose luminances differ by ``min_contrast``."""
    for _ in range(1000):
        first, second = rng.uniform(0.0, 1.0, size=(2, 3))
        if abs(float(_LUMA @ (first - second))) >= min_contrast:
            break
    return first, second


def _paint(image, sdf, texture, colours, shading=None) -> None:
    """Composite a textured region with antialiased edges into ``image`` in place."""
    alpha = np.clip(0.5 - sdf, 0.0, 1.0)[..., None]
    fg, bg = colours
    colour = bg + (fg - bg) * texture[..., None]
    if shading is not None:
        colour = colour * shading[..., None]
    image *= 1.0 - alpha
    image += alpha * colour


def _draw_clutter(rng, spec: SyntheticSpec, x, y, image) -> None:
    """Draw one background distractor of a random kind."""
    size = spec.image_size
    weights = np.asarray(spec.clutter_weights, dtype=np.float64)
    kind = CLUTTER_KINDS[int(rng.choice(len(weights), p=weights / weights.sum()))]
    shapes = sorted({shape for shape, _ in spec.object_classes})
    textures = sorted({texture for _, texture in spec.object_classes})
    cx, cy = rng.uniform(0.0, size, size=2)
    if kind == "line":
        ax, ay, bx, by = rng.uniform(-0.2 * size, 1.2 * size, size=4)
        sdf = _segment_distance(x, y, ax, ay, bx, by) - rng.uniform(*spec.clutter_line_width) / 2
        texture = np.ones_like(x)
    elif kind == "ring":
        shape = shapes[int(rng.integers(len(shapes)))]
        u, v = _local(x, y, cx, cy, rng.uniform(0.0, 2.0 * math.pi))
        outline = np.abs(_shape_sdf(shape, u, v, rng.uniform(*spec.clutter_ring_radius)))
        sdf = outline - rng.uniform(*spec.clutter_line_width) / 2
        texture = np.ones_like(x)
    elif kind == "textured_blob":
        u, v = _local(x, y, cx, cy, rng.uniform(0.0, 2.0 * math.pi))
        semi_major = rng.uniform(*spec.clutter_blob_radius)
        sdf = _blob_sdf(rng, u, v, semi_major, rng.uniform(*spec.clutter_blob_aspect))
        kind_texture = textures[int(rng.integers(len(textures)))]
        texture = _texture(rng, kind_texture, x, y, cx, cy, rng.uniform(*spec.texture_period))
    else:  # plain_shape: an object shape with a texture no object class uses
        shape = shapes[int(rng.integers(len(shapes)))]
        u, v = _local(x, y, cx, cy, rng.uniform(0.0, 2.0 * math.pi))
        sdf = _shape_sdf(shape, u, v, rng.uniform(*spec.clutter_shape_radius))
        names = spec.clutter_shape_textures
        kind_texture = names[int(rng.integers(len(names)))]
        texture = _texture(rng, kind_texture, x, y, cx, cy, rng.uniform(*spec.texture_period))
    _paint(image, sdf, texture, _colour_pair(rng, spec.min_texture_contrast))


def _segment_distance(x, y, ax, ay, bx, by) -> np.ndarray:
    """Distance from pixel centres to the segment from ``(ax, ay)`` to ``(bx, by)``."""
    dx, dy = bx - ax, by - ay
    h = np.clip(((x - ax) * dx + (y - ay) * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
    return np.hypot(x - ax - h * dx, y - ay - h * dy)


def _draw_objects(rng, spec: SyntheticSpec, x, y, image) -> np.ndarray:
    """Draw the labelled objects back to front; return the label map with ignore band."""
    size = spec.image_size
    label = np.zeros((size, size), dtype=np.uint8)
    border = np.zeros((size, size), dtype=bool)
    half_band = spec.ignore_border_width / 2.0
    probabilities = np.asarray(spec.object_class_probabilities)
    for _ in range(_randint(rng, spec.num_objects)):
        class_id = 1 + int(rng.choice(len(probabilities), p=probabilities))
        shape, texture_kind = spec.object_classes[class_id - 1]
        radius = rng.uniform(*spec.object_radius)
        cx, cy = rng.uniform(0.0, size, size=2)
        u, v = _local(x, y, cx, cy, rng.uniform(0.0, 2.0 * math.pi))
        sdf = _shape_sdf(shape, u, v, radius)
        texture = _texture(rng, texture_kind, x, y, cx, cy, rng.uniform(*spec.texture_period))
        ramp_x, ramp_y = rng.uniform(-1.0, 1.0, size=2)
        shading = 1.0 + spec.object_shading * (ramp_x * u + ramp_y * v) / radius
        _paint(image, sdf, texture, _colour_pair(rng, spec.min_texture_contrast), shading)
        label[sdf < 0.0] = class_id
        if half_band > 0.0:
            border[sdf <= -half_band] = False
            border[np.abs(sdf) < half_band] = True
    label[border] = IGNORE_INDEX
    return label
