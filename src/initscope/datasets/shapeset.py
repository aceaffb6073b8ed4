"""Shapeset-3x2 (Glorot & Bengio 2010, sec. 2.1), generated online, seeded, vectorised.

Each 32 x 32 grey image holds one or two shapes, each a triangle, a parallelogram or an
ellipse, scaled independently along two axes, rotated, sheared (parallelograms) and
translated so it lies inside the image. The background's grey level and the shapes' come
from opposite ranges (dark shapes on a light background or the reverse). A second shape
may not cover more than half of the first shape's area. The label says which shapes are
present, 9 classes: one shape (3 classes) or an unordered pair (6 classes). Pixels are in
[-1, 1].

Rasterisation maps every pixel centre back into each shape's canonical frame and tests
membership there, for a whole batch of images at once (NumPy broadcasting).

>>> x, y = shapeset(4, seed=0)
>>> x.shape, x.dtype, y.tolist()
((4, 32, 32), dtype('float32'), [0, 7, 7, 8])
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: The shape types, in label order.
SHAPES = ("triangle", "parallelogram", "ellipse")
#: Class of each present-shape combination: singles, then unordered pairs.
CLASSES: tuple[tuple[int, ...], ...] = ((0,), (1,), (2,), (0, 0), (0, 1), (0, 2), (1, 1),
                                        (1, 2), (2, 2))
SIZE = 32
_PAIR_CLASS = np.zeros((3, 3), dtype=np.int64)
for _k, _c in enumerate(CLASSES):
    if len(_c) == 2:
        _PAIR_CLASS[_c[0], _c[1]] = _k

#: Probability of each class under the original generator's mix.
CLASS_PROBABILITIES = tuple(1 / 6 if len(c) == 1 else (1 / 18 if c[0] == c[1] else 1 / 9)
                            for c in CLASSES)
#: Chance level: the loss of predicting the class frequencies (their entropy, 2.110 nats)
#: and the accuracy of always answering a most frequent class (1/6).
CHANCE_LOSS = -sum(p * math.log(p) for p in CLASS_PROBABILITIES)
CHANCE_ACCURACY = max(CLASS_PROBABILITIES)


@dataclass(frozen=True)
class ShapesetConfig:
    """Ranges of the random draws (in pixels and radians)."""

    size: int = SIZE
    min_scale: float = 4.0  # half-extent of a shape along each of its axes
    max_scale: float = 10.0
    max_shear: float = 0.6
    max_overlap: float = 0.5  # of the first shape's area
    dark: tuple[float, float] = (0.0, 0.4)  # grey levels in [0, 1]
    light: tuple[float, float] = (0.6, 1.0)

    def __post_init__(self) -> None:
        if not 0 < self.min_scale <= self.max_scale < self.size / 2:
            raise ValueError(
                f"need 0 < min_scale <= max_scale < size / 2; got {self.min_scale}, "
                f"{self.max_scale} for size {self.size}"
            )
        if not 0.0 <= self.max_overlap <= 1.0:
            raise ValueError(f"max_overlap must be in [0, 1]; got {self.max_overlap}")


def _masks(kind: NDArray[np.int64], rng: np.random.Generator, cfg: ShapesetConfig
           ) -> NDArray[np.bool_]:
    """One random shape per image, of the given kinds: boolean masks (n, size, size)."""
    n = len(kind)
    sx = rng.uniform(cfg.min_scale, cfg.max_scale, n)
    sy = rng.uniform(cfg.min_scale, cfg.max_scale, n)
    theta = rng.uniform(0.0, 2 * np.pi, n)
    shear = np.where(kind == 1, rng.uniform(-cfg.max_shear, cfg.max_shear, n), 0.0)
    c, s = np.cos(theta), np.sin(theta)
    # Half-extent of the transformed shape's bounding box, so the shape stays inside;
    # shapes whose box would not fit are shrunk to fit.
    ext_x = np.abs(c) * sx * (1 + np.abs(shear)) + np.abs(s) * sy
    ext_y = np.abs(s) * sx * (1 + np.abs(shear)) + np.abs(c) * sy
    fit = np.minimum(1.0, (cfg.size / 2 - 0.5) / np.maximum(ext_x, ext_y))
    sx, sy, ext_x, ext_y = sx * fit, sy * fit, ext_x * fit, ext_y * fit
    tx = rng.uniform(ext_x, cfg.size - ext_x)
    ty = rng.uniform(ext_y, cfg.size - ext_y)
    centres = (np.arange(cfg.size) + 0.5).astype(np.float32)
    out = np.empty((n, cfg.size, cfg.size), dtype=bool)
    for k in range(3):  # each kind's membership test only on its own images
        idx = np.nonzero(kind == k)[0]
        if not idx.size:
            continue

        def col(a: NDArray[np.float64], idx: NDArray[np.int64] = idx) -> NDArray[np.float32]:
            return a[idx].astype(np.float32)[:, None, None]

        px = centres[None, None, :] - col(tx)
        py = centres[None, :, None] - col(ty)
        # inverse rotation, then inverse scaling: canonical coordinates in [-1, 1]
        u = (col(c) * px + col(s) * py) / col(sx)
        v = (col(c) * py - col(s) * px) / col(sy)
        if k == 0:
            out[idx] = (v >= -1) & (v <= 1 - 2 * np.abs(u))
        elif k == 1:
            u = u - col(shear) * v  # undo the parallelogram's shear
            out[idx] = (np.abs(u) <= 1) & (np.abs(v) <= 1)
        else:
            out[idx] = u * u + v * v <= 1
    return out


def shapeset(n: int, *, seed: int | np.random.Generator = 0,
             config: ShapesetConfig | None = None) -> tuple[NDArray[np.float32],
                                                            NDArray[np.int64]]:
    """``n`` images (n, 32, 32) in [-1, 1] and their labels in 0..8 (the original mix:
    :data:`CLASS_PROBABILITIES`).
    Made in chunks of 4096 images (memory stays small for any ``n``)."""
    images, labels, _ = shapeset_with_masks(n, seed=seed, config=config)
    return images, labels


def shapeset_with_masks(n: int, *, seed: int | np.random.Generator = 0,
                        config: ShapesetConfig | None = None
                        ) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.bool_]]:
    """As :func:`shapeset`, plus each shape's full mask (n, 2, 32, 32) before occlusion
    (the second is empty for one-shape images): for segmentation, and for tests."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int; got {n!r}")
    cfg = config or ShapesetConfig()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    parts = [_shapeset(min(_CHUNK, n - i), rng, cfg) for i in range(0, max(n, 1), _CHUNK)]
    return tuple(np.concatenate([p[j] for p in parts])[:n] for j in range(3))  # type: ignore[return-value]


_CHUNK = 4096


def _shapeset(n: int, rng: np.random.Generator, cfg: ShapesetConfig
              ) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.bool_]]:
    # As the original generator: one or two shapes with probability 1/2 each, each shape's
    # type uniform and independent. Classes: single shapes 1/6 each, same-type pairs
    # 1/18, mixed pairs 1/9.
    two = rng.random(n) < 0.5
    first = rng.integers(0, len(SHAPES), n)
    second = np.where(two, rng.integers(0, len(SHAPES), n), first)
    labels = np.where(two, _PAIR_CLASS[np.minimum(first, second), np.maximum(first, second)],
                      first)
    m1 = _masks(first, rng, cfg)
    m2 = np.zeros_like(m1)
    todo = np.nonzero(two)[0]
    area1 = m1.sum(axis=(1, 2))
    for _ in range(1000):  # redraw the second shape where it covers too much of the first
        if not todo.size:
            break
        cand = _masks(second[todo], rng, cfg)
        overlap = (cand & m1[todo]).sum(axis=(1, 2))
        ok = overlap <= cfg.max_overlap * area1[todo]
        m2[todo[ok]] = cand[ok]
        todo = todo[~ok]
    if todo.size:
        raise RuntimeError(f"could not place {todo.size} second shapes within the overlap limit")
    light_bg = rng.random(n) < 0.5  # which of the two ranges the background takes
    bg_range = np.where(light_bg[:, None], cfg.light, cfg.dark)
    fg_range = np.where(light_bg[:, None], cfg.dark, cfg.light)
    bg = rng.uniform(bg_range[:, 0], bg_range[:, 1])
    g1 = rng.uniform(fg_range[:, 0], fg_range[:, 1])
    g2 = rng.uniform(fg_range[:, 0], fg_range[:, 1])
    img = np.where(m2, (2 * g2 - 1).astype(np.float32)[:, None, None],
                   np.where(m1, (2 * g1 - 1).astype(np.float32)[:, None, None],
                            (2 * bg - 1).astype(np.float32)[:, None, None]))
    return (img.astype(np.float32, copy=False), labels.astype(np.int64),
            np.stack([m1, m2], axis=1))


def shapeset_stream(batch: int, *, seed: int = 0, config: ShapesetConfig | None = None
                    ) -> Iterator[tuple[NDArray[np.float32], NDArray[np.int64]]]:
    """An endless stream of batches (the paper trains online on fresh images)."""
    rng = np.random.default_rng(seed)
    while True:
        yield shapeset(batch, seed=rng, config=config)
