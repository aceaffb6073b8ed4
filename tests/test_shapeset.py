"""Shapeset-3x2 as Glorot & Bengio describe it (sec. 2.1)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from initscope.datasets import CLASSES, ShapesetConfig, shapeset, shapeset_stream
from initscope.datasets import shapeset_with_masks as with_masks
from initscope.datasets.shapeset import CLASS_PROBABILITIES

N = 3000


@pytest.fixture(scope="module")
def data():
    return with_masks(N, seed=7)


def test_format_and_range(data):
    x, y, m = data
    assert x.shape == (N, 32, 32) and x.dtype == np.float32
    assert y.shape == (N,) and y.dtype == np.int64 and set(np.unique(y)) == set(range(9))
    assert m.shape == (N, 2, 32, 32)
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_classes_follow_the_original_mix(data):
    """One or two shapes with probability 1/2, types independent: singles 1/6 each,
    same-type pairs 1/18, mixed pairs 1/9 (chi-square at level 1e-4)."""
    counts = np.bincount(data[1], minlength=9)
    expected = np.array(CLASS_PROBABILITIES) * len(data[1])
    assert CLASS_PROBABILITIES[0] == 1 / 6 and CLASS_PROBABILITIES[3] == 1 / 18
    assert CLASS_PROBABILITIES[4] == 1 / 9 and abs(sum(CLASS_PROBABILITIES) - 1) < 1e-12
    assert stats.chisquare(counts, expected).pvalue > 1e-4


def test_labels_match_the_shapes_drawn(data):
    x, y, m = data
    n_shapes = np.array([len(CLASSES[k]) for k in y])
    drawn = m.any(axis=(2, 3)).sum(axis=1)
    assert np.array_equal(drawn, n_shapes)
    # grey levels: the background's and one per shape, all distinct
    levels = np.array([len(np.unique(img)) for img in x])
    assert np.array_equal(levels, 1 + n_shapes)


def test_background_and_shapes_from_opposite_ranges(data):
    x, _y, m = data
    cfg = ShapesetConfig()
    to01 = (x + 1) / 2
    for img, masks in zip(to01[:500], m[:500], strict=True):
        shape_px = masks.any(axis=0)
        bg, fg = img[~shape_px], img[shape_px]
        dark_bg = bg.max() <= cfg.dark[1] + 1e-6
        assert dark_bg == (fg.min() >= cfg.light[0] - 1e-6)
        assert dark_bg or (bg.min() >= cfg.light[0] - 1e-6 and fg.max() <= cfg.dark[1] + 1e-6)


def test_second_shape_covers_at_most_half_of_the_first(data):
    _, _, m = data
    first, second = m[:, 0], m[:, 1]
    overlap = (first & second).sum(axis=(1, 2))
    assert np.all(overlap <= 0.5 * first.sum(axis=(1, 2)))
    assert first.sum(axis=(1, 2)).min() > 10  # every shape is visible, not a speck


def test_kinds_are_what_the_labels_say():
    """A coarse check that kinds are not swapped: in one-shape images, the fraction of its
    axis-aligned bounding box that a shape fills is lowest for triangles (at most 1/2,
    whatever the rotation; ellipses and parallelograms fill more)."""
    _x, y, m = with_masks(900, seed=3)
    single = np.array([len(CLASSES[k]) == 1 for k in y])
    fill = {}
    for kind in range(3):
        sel = single & (y == kind)
        areas = m[sel, 0].sum(axis=(1, 2))
        rows = m[sel, 0].any(axis=2).sum(axis=1)
        cols = m[sel, 0].any(axis=1).sum(axis=1)
        fill[kind] = float(np.median(areas / (rows * cols)))
    assert fill[0] < fill[2] and fill[0] < fill[1]  # triangles fill their box least


def test_seeded_and_streaming():
    a, ya = shapeset(64, seed=11)
    b, yb = shapeset(64, seed=11)
    assert np.array_equal(a, b) and np.array_equal(ya, yb)
    c, _ = shapeset(64, seed=12)
    assert not np.array_equal(a, c)
    stream = shapeset_stream(32, seed=0)
    b1, b2 = next(stream), next(stream)
    assert b1[0].shape == (32, 32, 32) and not np.array_equal(b1[0], b2[0])
    big, _ = shapeset(5000, seed=0)  # chunked past 4096
    assert big.shape == (5000, 32, 32)
    with pytest.raises(ValueError, match="n must be a non-negative int"):
        shapeset(-1)
    with pytest.raises(ValueError, match="min_scale"):
        ShapesetConfig(min_scale=20.0, max_scale=30.0)
