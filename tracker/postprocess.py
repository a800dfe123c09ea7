"""Offline post-processing of finished tracks (opt-in; the tracker itself is online)."""

from __future__ import annotations

import numpy as np

from .structures import Tracks


def interpolate_gaps(per_frame: list[Tracks], max_gap: int) -> list[Tracks]:
    """Fill gaps of at most ``max_gap`` frames inside each track by linear interpolation.

    Uses future frames, so it is for files, not live streams. Filled boxes take the score of
    the earlier end and the track's class there.
    """
    if max_gap <= 0:
        return per_frame
    frame = np.concatenate([np.full(len(t), i) for i, t in enumerate(per_frame)])
    if len(frame) == 0:
        return per_frame
    every = Tracks.concatenate(list(per_frame))
    order = np.lexsort((frame, every.id))
    frame, rows = frame[order], every[order]
    gap = np.diff(frame)
    same = rows.id[1:] == rows.id[:-1]
    starts = np.flatnonzero(same & (gap > 1) & (gap <= max_gap + 1))
    out = [list([t]) for t in per_frame]
    for s in starts:
        a, b = rows.xyxy[s], rows.xyxy[s + 1]
        steps = int(gap[s])
        for k in range(1, steps):
            w = k / steps
            out[int(frame[s]) + k].append(
                Tracks(
                    id=rows.id[s : s + 1],
                    xyxy=((1 - w) * a + w * b)[None].astype(np.float32),
                    score=rows.score[s : s + 1],
                    class_id=rows.class_id[s : s + 1],
                    state=rows.state[s : s + 1],
                )
            )
    return [Tracks.concatenate(parts) if len(parts) > 1 else parts[0] for parts in out]
