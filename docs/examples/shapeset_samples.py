"""Shapeset-3x2 (Glorot & Bengio 2010): 32x32 grey images with one or two shapes, 9 classes.

Draws a grid of samples to docs/assets/shapeset_samples.png and checks the class mix."""
from pathlib import Path

import numpy as np

from initscope.datasets import shapeset
from initscope.datasets.shapeset import CLASS_PROBABILITIES
from initscope.report.plots import _pyplot

x, y = shapeset(20_000, seed=0)
print(f"images {x.shape}, pixel range [{x.min():.2f}, {x.max():.2f}], classes {np.unique(y)}")
freq = np.bincount(y, minlength=9) / len(y)
print("class frequencies:", " ".join(f"{f:.3f}" for f in freq))
# the class says which shapes are present (3 single shapes, 6 pairs). The original mix:
# one or two shapes with probability 1/2, types independent: singles 1/6, same-type pairs
# 1/18, mixed pairs 1/9; 20,000 draws put each within 0.01 of it (over 3.3 std errors)
assert np.all(np.abs(freq - np.array(CLASS_PROBABILITIES)) < 0.01)
assert x.min() >= -1 and x.max() <= 1

plt = _pyplot()
fig, axes = plt.subplots(3, 8, figsize=(8, 3.2), dpi=110)
for ax, img, label in zip(axes.flat, x[:24], y[:24], strict=True):
    ax.imshow(img.reshape(32, 32), cmap="gray", vmin=-1, vmax=1)
    ax.set_title(f"class {label}", fontsize=7)
    ax.axis("off")
fig.tight_layout()
out = Path(__file__).resolve().parent.parent / "assets" / "shapeset_samples.png"
fig.savefig(out)
print(f"wrote {out.name}")
