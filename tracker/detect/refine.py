"""Snap the sides of detected boxes onto colour edges, for solid-colour objects on grey.

The built-in detector's boxes come from a stride-4 heat map on a shrunken image: right to a few
pixels, which costs a lot of IoU on small boxes. The objects it is made for are saturated solid
colours (brightness may vary across them) over a grey background, so each side can be found in
the image itself:

* the object's colour is the median chromaticity (BGR / sum, blind to shading) of the saturated
  pixels in the middle half of the box;
* every pixel nearby gets a membership in 0..1: how far its chromaticity lies along the line
  from grey to that colour (pixels off the line, e.g. another object's colour, count 0). Pixels
  on an edge, blended by 4:2:0 chroma or resampling, get fractional values;
* for each side, the membership is averaged along the middle half of the box, giving a profile
  across that side; the strongest step of the profile near the detected side is the edge, placed
  to a fraction of a pixel by the area under the profile around the step.

A side with no clear step nearby (hidden under another object, flat colour) keeps the detector's
estimate; a side whose object runs off the image snaps to the border. Boxes that are not
coloured (e.g. grey) are left as they are.
"""

from __future__ import annotations

import numpy as np

GREY_CHROMA = np.full(3, 1.0 / 3.0, np.float32)
MIN_SATURATION = 0.35  # (max - min) / max of a pixel that can belong to an object
MIN_COLOURED = 0.3  # share of saturated pixels in the middle of a box, below which it is left alone
MIN_STEP = 0.4  # rise of the profile that counts as an edge
OFF_LINE = 0.35  # distance from the grey-to-colour line, relative to its length, beyond which 0
SEARCH = 0.2  # how far from the detected side to look, as a fraction of the box side
MIN_SEARCH_PX = 4.0
AREA_HALF_WIDTH = 3  # pixels each side of the step used to place the edge
SAMPLES = 32  # lines along the middle of a box that the profiles average


def snap_edges(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """Boxes ``(N, 4)`` in image pixels -> the same boxes with sides moved onto colour edges."""
    out = np.array(xyxy, np.float32, copy=True)
    for k, box in enumerate(out):
        refined = _snap_one(image, box)
        if refined is not None:
            out[k] = refined
    return out


def _snap_one(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    if w < 4 or h < 4:
        return None
    reach_x = max(MIN_SEARCH_PX, SEARCH * w)
    reach_y = max(MIN_SEARCH_PX, SEARCH * h)
    margin = AREA_HALF_WIDTH + 1
    left = int(max(0, np.floor(x1 - reach_x - margin)))
    right = int(min(width, np.ceil(x2 + reach_x + margin)))
    top = int(max(0, np.floor(y1 - reach_y - margin)))
    bottom = int(min(height, np.ceil(y2 + reach_y + margin)))
    if right - left < 4 or bottom - top < 4:
        return None
    # The middle half of the box, sampled on at most SAMPLES lines each way: the profiles are
    # averages, and a few dozen lines give them to a small fraction of a pixel.
    middle_rows = _samples(y1 + 0.25 * h, y2 - 0.25 * h, height)
    middle_cols = _samples(x1 + 0.25 * w, x2 - 0.25 * w, width)
    colour = _object_chroma(image[np.ix_(middle_rows, middle_cols)].astype(np.float32))
    if colour is None:
        return None
    across_columns = image[middle_rows, left:right].astype(np.float32)  # (rows, columns, 3)
    across_rows = image[top:bottom][:, middle_cols].astype(np.float32)  # (rows, columns, 3)
    columns = _membership(across_columns, colour).mean(axis=0)  # profile over the left/right sides
    rows = _membership(across_rows, colour).mean(axis=1)  # over the top/bottom sides
    new = [x1, y1, x2, y2]
    for axis in (0, 1):
        if axis == 0:
            profile, origin, reach, limit = columns, left, reach_x, width
        else:
            profile, origin, reach, limit = rows, top, reach_y, height
        for entering, index in ((True, axis), (False, axis + 2)):
            detected = new[index] - origin
            edge = _edge(profile, detected, reach, entering)
            if edge is not None:
                new[index] = edge + origin
            elif _runs_off_image(profile, origin, limit, detected, reach, entering):
                new[index] = 0.0 if entering else float(limit)
    if new[2] - new[0] < 4 or new[3] - new[1] < 4:
        return None
    return np.array(new, np.float32)


def _samples(start: float, stop: float, size: int) -> np.ndarray:
    """At most SAMPLES evenly spaced pixel indices in [start, stop), inside [0, size)."""
    first = int(np.clip(np.floor(start), 0, size - 1))
    last = int(np.clip(np.ceil(stop) - 1, first, size - 1))
    return np.unique(np.linspace(first, last, min(SAMPLES, last - first + 1)).round().astype(np.int64))


def _saturated(pixels: np.ndarray) -> np.ndarray:
    brightest, darkest = pixels.max(axis=2), pixels.min(axis=2)
    return (brightest - darkest) > MIN_SATURATION * (brightest + 1e-3)


def _object_chroma(middle: np.ndarray) -> np.ndarray | None:
    saturated = _saturated(middle)
    if saturated.mean() < MIN_COLOURED:
        return None
    pixels = middle[saturated]
    return np.median(pixels / (pixels.sum(axis=1, keepdims=True) + 1e-3), axis=0)


def _membership(pixels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    # Written per channel: numpy reduces over a last axis of 3 slowly, and this is the hot loop.
    b, g, r = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    inverse_sum = 1.0 / (b + g + r + 1e-3)
    ob, og, orr = b * inverse_sum - 1 / 3, g * inverse_sum - 1 / 3, r * inverse_sum - 1 / 3
    db, dg, dr = (float(v) for v in colour - GREY_CHROMA)
    length2 = db * db + dg * dg + dr * dr
    along = (ob * db + og * dg + orr * dr) / length2
    # Squared distance from the grey-to-colour line, relative to its length (Pythagoras).
    off_line2 = (ob * ob + og * og + orr * orr) / length2 - along * along
    return np.where(off_line2 < OFF_LINE**2, np.clip(along, 0.0, 1.0), 0.0)


def _runs_off_image(
    profile: np.ndarray, origin: int, limit: int, detected: float, reach: float, entering: bool
) -> bool:
    """Whether the object reaches the image border within ``reach`` of the detected side."""
    if entering:
        return origin == 0 and profile[0] > 0.5 and detected <= reach
    return origin + len(profile) == limit and profile[-1] > 0.5 and len(profile) - detected <= reach


def _edge(profile: np.ndarray, detected: float, reach: float, entering: bool) -> float | None:
    """The strongest step of ``profile`` within ``reach`` of boundary ``detected``, placed by the
    area under the profile around it; boundary i lies between samples i - 1 and i. A step up
    (``entering``) is a left or top side. None if there is no clear step."""
    n = len(profile)
    padded = np.concatenate([[0.0, 0.0], profile, [0.0, 0.0]])
    boundary = np.arange(n + 1)
    after = (padded[boundary + 2] + padded[np.minimum(boundary + 3, n + 3)]) / 2
    before = (padded[boundary] + padded[boundary + 1]) / 2
    step = after - before if entering else before - after
    window = np.abs(boundary - detected) <= reach
    if not window.any():
        return None
    best = int(np.argmax(np.where(window, step, -np.inf)))
    a, b = best - AREA_HALF_WIDTH, best + AREA_HALF_WIDTH
    if step[best] < MIN_STEP or a < 0 or b > n:
        return None
    inside = float(profile[a:b].sum())  # pixels' worth of object in the window
    return b - inside if entering else a + inside
