"""Snap the sides of detected boxes onto colour edges, and split boxes at seams, for solid-colour
objects on grey.

The built-in detector's boxes come from a stride-4 heat map on a shrunken image: right to a few
pixels, which costs a lot of IoU on small boxes. The objects it is made for are solid colours
(brightness may vary across them) over a grey background, so each side can be found in the
image itself:

* across each side, a profile: the mean colour (BGR) of each column (or row) over the middle
  half of the box;
* the object's colour at that side is the median of the profile just inside the search window:
  taken near each side, not once per box, because shading changes it across the box;
* scanning outward from there, the edge is the first clear step of the profile away from that
  colour: the two samples on the inside still match the object (within ``MATCH`` of the step) and
  the step is at least ``MIN_CONTRAST`` grey levels, as a distance between colours. A distance,
  not a position along the line from grey to the object's chromaticity: a pale object
  (saturation 0.15) has almost no chromaticity to measure, but stands ~20 levels off the road;
  and a touching object of the same hue differs from it only in brightness;
* the step is placed to a fraction of a pixel by the area under the membership (the position of
  each sample between the colours just outside and just inside the step).

A side with no clear step nearby (hidden under another object, flat colour) keeps the detector's
estimate; a side whose object runs off the image snaps to the border. Boxes that are not
coloured (grey, e.g. a lane marking) are left as they are.

``split_at_seams`` splits a box that covers two touching objects of one hue (the network tends
to see them as one): a sharp brightness step inside the box between two parts of the same hue,
where shading alone would change the colour gradually.
"""

from __future__ import annotations

import numpy as np

MIN_SATURATION = 0.08  # (max - min) / max of the median colour of a box's middle; below: grey, left alone
MIN_CONTRAST = 10.0  # grey levels between the colours either side of a step (2-sample means)
MATCH = 0.5  # a step's inside lies within this share of the step from the object's colour
SEARCH = 0.2  # how far from the detected side to look, as a fraction of the box side
MIN_SEARCH_PX = 4.0
AREA_HALF_WIDTH = 3  # pixels each side of the step used to place the edge
PLATEAU = 2  # samples beyond that window giving the colours outside and inside the step
SAMPLES = 32  # lines along the middle of a box that the profiles average
MIN_SHARE_STEP = 0.4  # drop across a side in the share of lines where the object is (old MIN_STEP)
RUNS_OFF = 20.0  # grey levels from the object's colour within which a border pixel is the object
# Seams between touching objects of one hue.
MIN_PART_PX = 10.0  # smallest part a seam may cut off (the spec's smallest side is 16 px)
MIN_SIDE_PX = 16  # boxes thinner than this (the spec's smallest side) are not split
MIN_SEAM_STEP = 0.08  # brightness change across a seam, relative to the brighter side
SHARPNESS = 3.0  # a seam's step is this many times the step 3 px either side of it (shading is gradual)
SAME_HUE_DEG = 15.0  # angle between the two sides' chromaticities (from grey) within which one hue
SEAM_LINES = 0.7  # share of the lines across a seam that step by at least half its (mean) step
SEAM_SEARCH = 0.35  # search reach of a part's re-snap across the seam's direction


def snap_edges(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """Boxes ``(N, 4)`` in image pixels -> the same boxes with sides moved onto colour edges."""
    out = np.array(xyxy, np.float32, copy=True)
    for k, box in enumerate(out):
        refined = _snap_one(image, box)
        if refined is not None:
            out[k] = refined
    return out


def split_at_seams(image: np.ndarray, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(N, 4)`` -> ``(boxes (M, 4), source (M,))``: each box that covers two touching
    objects of one hue becomes their two boxes (sides snapped again), the others stay;
    ``source`` is the index of the input box each output box comes from."""
    boxes, source = [], []
    for k, box in enumerate(np.asarray(xyxy, np.float32)):
        parts = _split_one(image, box)
        boxes += parts
        source += [k] * len(parts)
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(source, np.int64)


def _snap_one(image: np.ndarray, box: np.ndarray, search: tuple[float, float] = (SEARCH, SEARCH)):
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    if w < 4 or h < 4:
        return None
    reach_x = max(MIN_SEARCH_PX, search[0] * w)
    reach_y = max(MIN_SEARCH_PX, search[1] * h)
    margin = AREA_HALF_WIDTH + PLATEAU + 1
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
    if not _coloured(image[np.ix_(middle_rows, middle_cols)]):
        return None
    # Pixels across the sides, (lines, positions across, 3): rows across the left and right
    # sides, columns across the top and bottom.
    across_columns = image[middle_rows, left:right].astype(np.float32)
    across_rows = image[top:bottom][:, middle_cols].astype(np.float32).transpose(1, 0, 2)
    new = [x1, y1, x2, y2]
    for axis in (0, 1):
        if axis == 0:
            pixels, origin, reach, limit = across_columns, left, reach_x, width
        else:
            pixels, origin, reach, limit = across_rows, top, reach_y, height
        profile = pixels.mean(axis=0)
        for entering, index in ((True, axis), (False, axis + 2)):
            detected = new[index] - origin
            colour = _side_colour(pixels, detected, reach, entering)
            if colour is None:
                continue
            edge = _edge(pixels, profile, colour, detected, reach, entering)
            if edge is not None:
                new[index] = edge + origin
            elif _runs_off_image(pixels, colour, origin, limit, detected, reach, entering):
                new[index] = 0.0 if entering else float(limit)
    if new[2] - new[0] < 4 or new[3] - new[1] < 4:
        return None
    return np.array(new, np.float32)


def _samples(start: float, stop: float, size: int) -> np.ndarray:
    """At most SAMPLES evenly spaced pixel indices in [start, stop), inside [0, size)."""
    first = int(np.clip(np.floor(start), 0, size - 1))
    last = int(np.clip(np.ceil(stop) - 1, first, size - 1))
    return np.unique(np.linspace(first, last, min(SAMPLES, last - first + 1)).round().astype(np.int64))


def _saturation(colour: np.ndarray) -> float:
    return float((colour.max() - colour.min()) / (colour.max() + 1e-3))


def _coloured(middle: np.ndarray) -> bool:
    return _saturation(np.median(middle.reshape(-1, 3).astype(np.float32), axis=0)) >= MIN_SATURATION


def _side_colour(pixels: np.ndarray, detected: float, reach: float, entering: bool) -> np.ndarray | None:
    """The object's colour just inside the search window of a side: the median of the pixels in
    a band half the reach wide (at least 2 samples); of pixels, not of the profile's means, so
    that where another object covers some lines the colour is still the majority's."""
    band = max(2, int(round(reach / 2)))
    if entering:
        start = int(np.ceil(detected + reach))
        chunk = pixels[:, max(start, 0) : start + band]
    else:
        stop = int(np.floor(detected - reach))
        chunk = pixels[:, max(stop - band, 0) : max(stop, 0)]
    return np.median(chunk.reshape(-1, 3), axis=0) if chunk.size else None


def _two_sample_steps(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For boundaries b = 2 .. n-2 (b lies between samples b - 1 and b): b, and the mean colours
    of the two samples before and the two after."""
    b = np.arange(2, len(profile) - 1)
    before = (profile[b - 2] + profile[b - 1]) / 2
    after = (profile[b] + profile[b + 1]) / 2
    return b, before, after


def _edge(
    pixels: np.ndarray, profile: np.ndarray, colour: np.ndarray, detected: float, reach: float, entering: bool
):
    """The first clear step away from ``colour`` met going outward from the inside of the search
    window, taken at its strongest boundary and placed by area; None if there is none. A step
    up the indices (``entering``) is a left or top side."""
    b, before, after = _two_sample_steps(profile)
    inside, outside = (after, before) if entering else (before, after)
    step = np.linalg.norm(inside - outside, axis=1)
    near = np.linalg.norm(inside - colour, axis=1)
    valid = (step >= MIN_CONTRAST) & (near <= MATCH * step) & (np.abs(b - detected) <= reach)
    outward = -1 if entering else 1
    candidates = np.flatnonzero(valid)[::outward]  # inside first
    passed = len(b) if entering else -1  # candidates up to here (from the inside) are used up
    for best in candidates:
        if (best - passed) * outward <= 0:
            continue
        while 0 <= best + outward < len(b) and valid[best + outward] and step[best + outward] > step[best]:
            best += outward
        passed = best
        if _whole_step(pixels, int(b[best]), colour, entering):
            return _place(profile, int(b[best]), entering)
    return None


def _whole_step(pixels: np.ndarray, boundary: int, colour: np.ndarray, entering: bool) -> bool:
    """Whether the step at ``boundary`` is the object ending on most lines, not another object
    covering a few of them: the share of pixels nearer the object's colour than halfway to the
    outside's mean drops by MIN_SHARE_STEP across it."""
    low, high = pixels[:, boundary - 2 : boundary], pixels[:, boundary : boundary + 2]
    inside, outside = (high, low) if entering else (low, high)
    halfway = 0.5 * float(np.linalg.norm(outside.mean(axis=(0, 1)) - colour))
    share_in = (np.linalg.norm(inside - colour, axis=2) < halfway).mean()
    share_out = (np.linalg.norm(outside - colour, axis=2) < halfway).mean()
    return share_in - share_out >= MIN_SHARE_STEP


def _place(profile: np.ndarray, boundary: int, entering: bool) -> float | None:
    """Sub-pixel position of the step at ``boundary``: the object's share of the samples within
    AREA_HALF_WIDTH of it, each sample's share read between the colours just beyond them."""
    a, c = boundary - AREA_HALF_WIDTH, boundary + AREA_HALF_WIDTH
    if a - PLATEAU < 0 or c + PLATEAU > len(profile):
        return None
    low, high = profile[a - PLATEAU : a].mean(axis=0), profile[c : c + PLATEAU].mean(axis=0)
    obj, background = (high, low) if entering else (low, high)
    direction = obj - background
    length2 = float(direction @ direction)
    if length2 < MIN_CONTRAST**2:
        return None
    share = np.clip((profile[a:c] - background) @ direction / length2, 0.0, 1.0)
    inside = float(share.sum())  # pixels' worth of object in the window
    return c - inside if entering else a + inside


def _runs_off_image(
    pixels: np.ndarray,
    colour: np.ndarray,
    origin: int,
    limit: int,
    detected: float,
    reach: float,
    entering: bool,
) -> bool:
    """Whether the object reaches the image border within ``reach`` of the detected side."""
    n = pixels.shape[1]
    if entering:
        at_border = origin == 0 and detected <= reach
        line = pixels[:, 0]
    else:
        at_border = origin + n == limit and n - detected <= reach
        line = pixels[:, -1]
    return at_border and (np.linalg.norm(line - colour, axis=1) <= RUNS_OFF).mean() > 0.5


def _split_one(image: np.ndarray, box: np.ndarray) -> list[np.ndarray]:
    """The box, or the two boxes either side of its strongest seam (each snapped again)."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    left, right = int(max(0, np.floor(x1))), int(min(width, np.ceil(x2)))
    top, bottom = int(max(0, np.floor(y1))), int(min(height, np.ceil(y2)))
    if min(right - left, bottom - top) < MIN_SIDE_PX:
        return [box]  # a sliver at the border: too thin to tell seams from noise
    middle_rows = _samples(y1 + 0.25 * (y2 - y1), y2 - 0.25 * (y2 - y1), height)
    middle_cols = _samples(x1 + 0.25 * (x2 - x1), x2 - 0.25 * (x2 - x1), width)
    found = []
    if right - left >= 2 * MIN_PART_PX:
        seam = _seam(image[middle_rows, left:right].astype(np.float32))
        if seam is not None:
            found.append((seam[1], 0, seam[0] + left))
    if bottom - top >= 2 * MIN_PART_PX:
        seam = _seam(image[top:bottom][:, middle_cols].astype(np.float32).transpose(1, 0, 2))
        if seam is not None:
            found.append((seam[1], 1, seam[0] + top))
    if not found:
        return [box]
    _, axis, at = max(found)
    first, second = box.copy(), box.copy()
    first[axis + 2], second[axis] = at, at
    # Each part's extent along the seam may differ from the other's: search wider there.
    search = (SEARCH, SEAM_SEARCH) if axis == 0 else (SEAM_SEARCH, SEARCH)
    parts = []
    for part in (first, second):
        snapped = _snap_one(image, part, search)
        parts.append(part if snapped is None else snapped)
    return parts


def _seam(pixels: np.ndarray) -> tuple[float, float] | None:
    """The strongest seam across a box, from its pixels (lines, positions across, 3): (position,
    step in grey levels), or None. A seam is a sharp brightness step between two parts of one
    hue, each at least MIN_PART_PX wide, both coloured, on most lines (where only some lines
    step, one object ends beside another that goes on)."""
    profile = pixels.mean(axis=0)
    n = len(profile)
    b, before, after = _two_sample_steps(profile)
    step = np.linalg.norm(after - before, axis=1)
    brightness_before, brightness_after = before.sum(axis=1), after.sum(axis=1)
    relative = np.abs(brightness_after - brightness_before) / np.maximum(
        np.maximum(brightness_before, brightness_after), 1e-3
    )
    # Shading is gradual: a seam's step stands above the steps 3 samples either side.
    padded = np.concatenate([np.full(3, np.inf), step, np.full(3, np.inf)])
    around = np.maximum(padded[:-6], padded[6:])
    around = np.where(np.isinf(around), np.minimum(padded[:-6], padded[6:]), around)
    candidates = (
        (step >= MIN_CONTRAST)
        & (relative >= MIN_SEAM_STEP)
        & (step >= SHARPNESS * around)
        & (b >= MIN_PART_PX)
        & (n - b >= MIN_PART_PX)
    )
    for k in np.flatnonzero(candidates)[np.argsort(-step[candidates])]:
        boundary = int(b[k])
        one, two = np.median(profile[:boundary], axis=0), np.median(profile[boundary:], axis=0)
        if _saturation(one) < MIN_SATURATION or _saturation(two) < MIN_SATURATION:
            continue
        if _hue_angle_deg(one, two) > SAME_HUE_DEG:
            continue
        lines = pixels[:, boundary : boundary + 2].mean(axis=1) - pixels[:, boundary - 2 : boundary].mean(
            axis=1
        )
        if (np.linalg.norm(lines, axis=1) >= 0.5 * step[k]).mean() < SEAM_LINES:
            continue
        at = _place(profile, boundary, entering=False)
        return (boundary if at is None else at), float(step[k])
    return None


def _hue_angle_deg(one: np.ndarray, two: np.ndarray) -> float:
    """Angle between two colours' chromaticities, seen from grey."""
    u = one / (one.sum() + 1e-3) - 1 / 3
    v = two / (two.sum() + 1e-3) - 1 / 3
    cos = float(u @ v) / (float(np.linalg.norm(u) * np.linalg.norm(v)) + 1e-9)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
