"""SSIM (Wang, Bovik, Sheikh and Simoncelli 2004) on the luma of two same-size RGB images, in numpy.

The paper's own settings: an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, and the
mean of the SSIM map over the positions where the whole window fits (the reference MATLAB code's 'valid').
Luma is BT.601 Y, what a JPEG stores at full resolution; colour differences are left to the chroma
subsampling every derivative has anyway.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

WINDOW, SIGMA = 11, 1.5
C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

Array = NDArray[np.float64]


def luma(im: Image.Image) -> Array:
    rgb = np.asarray(im.convert("RGB"), dtype=np.float64)
    y: Array = rgb @ np.array([0.299, 0.587, 0.114])
    return y


def _gaussian() -> Array:
    x = np.arange(WINDOW, dtype=np.float64) - (WINDOW - 1) / 2
    g: Array = np.exp(-(x**2) / (2 * SIGMA**2))
    return g / float(g.sum())


def _filter(a: Array, g: Array) -> Array:
    """Separable 'valid' convolution with the window: one pass along each axis, one shifted slice per tap."""
    n = len(g)
    width, height = a.shape[1] - n + 1, a.shape[0] - n + 1
    rows = g[0] * a[:, :width]
    for k in range(1, n):
        rows += g[k] * a[:, k : k + width]
    out: Array = g[0] * rows[:height]
    for k in range(1, n):
        out += g[k] * rows[k : k + height]
    return out


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Mean SSIM of the two images' luma; 1.0 for identical images."""
    if a.size != b.size:
        raise ValueError(f"SSIM needs images of one size, got {a.size} and {b.size}")
    x, y, g = luma(a), luma(b), _gaussian()
    mx, my = _filter(x, g), _filter(y, g)
    vx = _filter(x * x, g) - mx * mx
    vy = _filter(y * y, g) - my * my
    cov = _filter(x * y, g) - mx * my
    num = (2 * mx * my + C1) * (2 * cov + C2)
    den = (mx * mx + my * my + C1) * (vx + vy + C2)
    return float(np.mean(num / den))
