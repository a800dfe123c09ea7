"""Constant-velocity Kalman filter on boxes, batched over all tracks.

State per track: ``[cx, cy, w, h, vx, vy, vw, vh]``: box centre and size in pixels, and their
rates in pixels per second. Measurement: ``[cx, cy, w, h]``.

The matrices are the textbook ones that ``filterpy.kalman.KalmanFilter`` uses, and the process
noise block comes from ``filterpy.common.Q_discrete_white_noise``; the tests check this filter
step for step against a filterpy filter with the full 8x8 matrices.

Two things make it fast. Layout: every track's state lives in one array, so a frame costs a
handful of numpy calls whatever the count (filterpy holds one Python object per track).
Structure: with ``F = kron([[1, dt], [0, 1]], I4)``, ``Q = kron(q, diag(var))``, a diagonal
``R`` and ``H = [I4 0]``, the covariance never couples different coordinates; it is four
independent 2x2 (position, velocity) blocks. We store their three distinct entries as (N, 4)
arrays ``pp, pv, vv`` (stacked as ``cov`` of shape (N, 3, 4)) and update them elementwise, which
is exactly the full-matrix filter (``full_covariance`` rebuilds the 8x8 matrices).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from filterpy.common import Q_discrete_white_noise

from ..config import MotionConfig

STATE_DIM = 8
MEAS_DIM = 4
_MIN_SIZE = 1.0
PP, PV, VV = 0, 1, 2  # rows of ``cov``: var(position), cov(position, velocity), var(velocity)


@lru_cache(maxsize=64)
def _unit_process_noise(dt: float) -> tuple[float, float, float]:
    """Entries (pp, pv, vv) of the 2x2 white-noise-acceleration block for unit variance, as
    filterpy builds it."""
    q = Q_discrete_white_noise(dim=2, dt=dt, var=1.0)
    return float(q[0, 0]), float(q[0, 1]), float(q[1, 1])


def xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, dtype=np.float64)
    wh = xyxy[:, 2:4] - xyxy[:, 0:2]
    return np.concatenate([xyxy[:, 0:2] + wh / 2, wh], axis=1)


def cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    half = cxcywh[:, 2:4] / 2
    out = np.empty((len(cxcywh), 4))
    np.subtract(cxcywh[:, 0:2], half, out=out[:, 0:2])
    np.add(cxcywh[:, 0:2], half, out=out[:, 2:4])
    return out


def _extra_rows_zeroed(cov: np.ndarray) -> np.ndarray:
    out = cov.copy()
    out[:, 3:] = 0.0
    return out


def _like(cov: np.ndarray) -> np.ndarray:
    """An array for the new covariance: rows past PP, PV, VV (a subclass's) start at zero."""
    out = np.empty_like(cov)
    if cov.shape[1] > 3:
        out[:, 3:] = 0.0
    return out


def full_covariance(cov: np.ndarray) -> np.ndarray:
    """(N, 8, 8) covariance matrices from the compact (N, 3, 4) form."""
    n = len(cov)
    out = np.zeros((n, STATE_DIM, STATE_DIM))
    i = np.arange(4)
    out[:, i, i] = cov[:, PP]
    out[:, i, i + 4] = cov[:, PV]
    out[:, i + 4, i] = cov[:, PV]
    out[:, i + 4, i + 4] = cov[:, VV]
    return out


class KalmanBoxModel:
    """Batched constant-velocity Kalman filter (the ``kalman`` motion model).

    Holds no track state itself: callers keep ``mean`` (N, 8) and ``cov`` (N, 3, 4) arrays and
    pass them in, so that the lifecycle code can select, append and drop tracks freely. A
    subclass may keep more rows in ``cov``: ``predict`` and ``update`` return them as zeros.
    """

    # Rows of ``cov``: PP, PV, VV, and any a subclass keeps (zero until it writes them).
    COV_ROWS = 3
    # Whether ``predict`` reads ``TrackHistory.cut`` (the tracker records it only then).
    reads_cut = False

    def __init__(self, config: MotionConfig) -> None:
        self.config = config

    @staticmethod
    def _size_scale(mean: np.ndarray) -> np.ndarray:
        """(N, 4) box sizes [w, h, w, h] that scale the noise of each coordinate."""
        wh = np.maximum(mean[:, 2:4], _MIN_SIZE)
        return np.concatenate([wh, wh], axis=1)

    def initiate(self, xyxy: np.ndarray, velocity: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Start tracks at boxes ``xyxy`` (N, 4), still or with the centre ``velocity`` (N, 2,
        pixels/s) as the prior; its uncertainty is the same either way."""
        n = len(xyxy)
        mean = np.zeros((n, STATE_DIM))
        mean[:, :4] = xyxy_to_cxcywh(xyxy)
        if velocity is not None and n:
            mean[:, 4:6] = velocity
        scale = self._size_scale(mean)
        cov = np.zeros((n, self.COV_ROWS, 4))
        cov[:, PP] = (2 * self.config.std_measurement * scale) ** 2
        cov[:, VV] = (self.config.std_velocity_init * scale) ** 2
        return mean, cov

    def measurement_noise(self, mean: np.ndarray) -> np.ndarray:
        """(N, 4) measurement variances, proportional to the box size."""
        return (self.config.std_measurement * self._size_scale(mean)) ** 2

    def predict(
        self, mean: np.ndarray, cov: np.ndarray, dt: float, history=None, now_s: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Advance every track by ``dt`` seconds (``history`` and ``now_s`` are for learned
        models; unused here). Returns new arrays; inputs are not modified."""
        if len(mean) == 0 or dt <= 0:
            return mean.copy(), _extra_rows_zeroed(cov)
        q_pp, q_pv, q_vv = _unit_process_noise(float(dt))
        var = self._size_scale(mean)
        var *= var * self.config.std_acceleration**2
        pp, pv, vv = cov[:, PP], cov[:, PV], cov[:, VV]
        new_cov = _like(cov)
        new_cov[:, VV] = vv + q_vv * var
        new_cov[:, PV] = pv + dt * vv + q_pv * var
        new_cov[:, PP] = pp + dt * (pv + new_cov[:, PV]) + (q_pp - dt * q_pv) * var
        new_mean = mean.copy()
        new_mean[:, :4] += dt * mean[:, 4:]
        # A box cannot shrink below a pixel, however fast its size was changing.
        np.maximum(new_mean[:, 2:4], _MIN_SIZE, out=new_mean[:, 2:4])
        return new_mean, new_cov

    def update(self, mean: np.ndarray, cov: np.ndarray, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct tracks with measured boxes ``xyxy`` (N, 4), row for row."""
        if len(mean) == 0:
            return mean.copy(), cov.copy()
        pp, pv, vv = cov[:, PP], cov[:, PV], cov[:, VV]
        s = pp + self.measurement_noise(mean)
        gain_p, gain_v = pp / s, pv / s
        innovation = xyxy_to_cxcywh(xyxy) - mean[:, :4]
        new_mean = np.concatenate(
            [mean[:, :4] + gain_p * innovation, mean[:, 4:] + gain_v * innovation], axis=1
        )
        new_cov = _like(cov)
        new_cov[:, PP] = pp * (1 - gain_p)
        new_cov[:, PV] = pv * (1 - gain_p)
        new_cov[:, VV] = vv - gain_v * pv
        np.maximum(new_mean[:, 2:4], _MIN_SIZE, out=new_mean[:, 2:4])
        return new_mean, new_cov

    @staticmethod
    def warp(mean: np.ndarray, cov: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """States moved by a 2x3 affine camera motion (centres mapped, velocities rotated and
        scaled, sizes and uncertainties scaled by the zoom). Returns new arrays."""
        linear = warp[:, :2]
        zoom = float(np.sqrt(abs(np.linalg.det(linear))))
        new = mean.copy()
        new[:, 0:2] = mean[:, 0:2] @ linear.T + warp[:, 2]
        new[:, 4:6] = mean[:, 4:6] @ linear.T
        new[:, 2:4] *= zoom
        new[:, 6:8] *= zoom
        return new, cov * zoom**2

    def centre_std(self, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """(N, 2) innovation standard deviations of the centre: predicted variance plus the
        detector's."""
        return np.sqrt(cov[:, PP, 0:2] + self.measurement_noise(mean)[:, 0:2])

    @staticmethod
    def freeze_size(mean: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Size rates (vw, vh) of ``rows`` set to zero, in place."""
        mean[rows, 6:8] = 0.0
        return mean

    @staticmethod
    def future_centres(mean: np.ndarray, times_s: np.ndarray, history=None, now_s=None) -> np.ndarray:
        """(N, T, 2) box centres predicted ``times_s`` seconds ahead (constant velocity)."""
        return mean[:, None, 0:2] + mean[:, None, 4:6] * np.asarray(times_s)[None, :, None]

    @staticmethod
    def boxes(mean: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy boxes of the state means."""
        return cxcywh_to_xyxy(mean[:, :4])
