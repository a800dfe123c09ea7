"""Camera-motion compensation: the global image motion between consecutive frames.

On driving footage the camera itself moves and turns, so every object shifts in the image by
the camera's motion on top of its own. ``CameraMotion`` estimates that global motion (shift
and rotation; zoom only with ``FlowSettings.zoom``, since on driving footage an apparent zoom
is forward motion, which moves things by their depth) from sparse optical flow on a downscaled
grey image (OpenCV: Shi-Tomasi corners, pyramidal Lucas-Kanade, RANSAC, fitting a similarity),
and the tracker moves every track by it before predicting. When the estimate cannot be trusted
(too few corners or inliers, a scene cut, a change of resolution) the result is the identity:
no compensation is better than a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def drop_zoom(warp: np.ndarray, width: int, height: int) -> np.ndarray:
    """The 2x3 similarity ``warp`` without its zoom: its rotation, about a centre whose motion
    it keeps. When the zoom's fixed point lies in the middle of the ``width`` x ``height`` frame
    (within a quarter of each side from its centre: where a forward-looking camera's vanishing
    point is), the motion is taken for driving forward, and that point is the centre: a pure
    forward motion becomes the identity. Otherwise (a pan, with some forward motion) the centre
    is the frame's centre, and the pan is kept."""
    linear, shift = warp[:, :2], warp[:, 2]
    zoom = float(np.sqrt(abs(np.linalg.det(linear))))
    if zoom <= 0:
        return IDENTITY.copy()
    rotation = linear / zoom
    centre = np.array([width / 2, height / 2])
    if abs(zoom - 1.0) > 1e-3:
        fixed = np.linalg.solve(np.eye(2) - linear, shift)
        if abs(fixed[0] - centre[0]) <= width / 4 and abs(fixed[1] - centre[1]) <= height / 4:
            centre = fixed
    moved = linear @ centre + shift
    return np.concatenate([rotation, (moved - rotation @ centre)[:, None]], axis=1)


def warp_boxes(xyxy: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """Axis-aligned boxes (N, 4) moved by a 2x3 similarity: centres mapped, sizes scaled."""
    xyxy = np.asarray(xyxy, np.float64)
    linear = warp[:, :2]
    zoom = float(np.sqrt(abs(np.linalg.det(linear))))
    centre = (xyxy[:, 0:2] + xyxy[:, 2:4]) / 2 @ linear.T + warp[:, 2]
    half = (xyxy[:, 2:4] - xyxy[:, 0:2]) * (zoom / 2)
    return np.concatenate([centre - half, centre + half], axis=1)


@dataclass(frozen=True)
class FlowSettings:
    """Settings of the estimator (kept out of the YAML config, whose ``camera_motion`` section
    only turns it on or off: these are implementation knobs)."""

    # About the width of the grey image the flow runs on (the frame is shrunk by a whole factor,
    # OpenCV's fast path); the estimate is scaled back to full size.
    work_width: int = 320
    max_corners: int = 150
    min_inliers: int = 20
    # Below this share of tracked corners agreeing with the motion: a scene cut, no estimate.
    min_inlier_ratio: float = 0.35
    # Keep the estimate's zoom. Off for driving: a camera that moves forward sees the scene
    # expand around the vanishing point, but that expansion depends on depth (parallax), and the
    # vehicles driving along with the camera do not take part in it; applying it moved their
    # tracks (and trails) outward by up to 6 % a frame on the highway clip. Without it the
    # estimate keeps its rotation and the shift of the zoom's fixed point (see ``drop_zoom``).
    zoom: bool = False


class CameraMotion:
    """Stateful estimator: ``update(frame)`` returns the 2x3 affine from the previous frame's
    pixels to this frame's (identity for the first frame and whenever estimation fails).

    ``failures`` counts frames where the estimate was refused.
    """

    def __init__(self, config: FlowSettings = FlowSettings()) -> None:
        self.config = config
        self.failures = 0
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (e.g. after a reconnect)."""
        self._prev: np.ndarray | None = None
        self._prev_points: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None
        self._scale = 1.0

    def update(self, frame: np.ndarray) -> np.ndarray:
        grey = self._prepare(frame)
        if self._prev is None or frame.shape != self._shape:
            self._remember(grey, frame.shape)
            return IDENTITY.copy()
        warp = self._estimate(grey)
        self._remember(grey, frame.shape)
        if warp is None:
            self.failures += 1
            return IDENTITY.copy()
        return warp

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        factor = max(1, round(grey.shape[1] / self.config.work_width))
        self._scale = 1.0 / factor
        if factor > 1:
            size = (grey.shape[1] // factor, grey.shape[0] // factor)
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        return grey

    def _remember(self, grey: np.ndarray, shape: tuple[int, ...]) -> None:
        self._prev, self._shape = grey, shape
        self._prev_points = cv2.goodFeaturesToTrack(
            grey, maxCorners=self.config.max_corners, qualityLevel=0.01, minDistance=8, blockSize=3
        )

    def _estimate(self, grey: np.ndarray) -> np.ndarray | None:
        points = self._prev_points
        if points is None or len(points) < self.config.min_inliers:
            return None
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            self._prev, grey, points, None, winSize=(15, 15), maxLevel=3
        )
        ok = status.ravel() == 1
        if ok.sum() < self.config.min_inliers:
            return None
        warp, inliers = cv2.estimateAffinePartial2D(
            points[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=1.5
        )
        if warp is None or inliers is None:
            return None
        count = int(inliers.sum())
        if count < self.config.min_inliers or count < self.config.min_inlier_ratio * len(points):
            return None
        # Back to full-resolution pixels: the linear part is scale-free, the shift scales.
        warp = warp.astype(np.float64)
        warp[:, 2] /= self._scale
        if not self.config.zoom and self._shape is not None:
            warp = drop_zoom(warp, self._shape[1], self._shape[0])
        return warp
