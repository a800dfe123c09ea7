"""Constant-velocity Kalman filter on boxes, batched over all tracks.

State per track: ``[cx, cy, w, h, vx, vy, vw, vh]``: box centre and size in pixels, and their
rates in pixels per second. Measurement: ``[cx, cy, w, h]``.

The matrices are the textbook ones that ``filterpy.kalman.KalmanFilter`` uses (and the process
noise block comes from ``filterpy.common.Q_discrete_white_noise``); the tests check this filter
step for step against filterpy. The difference is layout: filterpy holds one filter per object,
which costs tens of microseconds per track per frame in Python; here every track's mean and
covariance live in one array, so a frame costs a handful of numpy calls whatever the count.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from filterpy.common import Q_discrete_white_noise

from ..config import MotionConfig

STATE_DIM = 8
MEAS_DIM = 4
_MIN_SIZE = 1.0


@lru_cache(maxsize=64)
def _transition(dt: float) -> np.ndarray:
    F = np.eye(STATE_DIM)
    F[:4, 4:] = np.eye(4) * dt
    return F


@lru_cache(maxsize=64)
def _unit_process_noise(dt: float) -> np.ndarray:
    """The 2x2 white-noise-acceleration block for unit variance, as filterpy builds it."""
    return Q_discrete_white_noise(dim=2, dt=dt, var=1.0)


def xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, dtype=np.float64)
    wh = xyxy[:, 2:4] - xyxy[:, 0:2]
    return np.concatenate([xyxy[:, 0:2] + wh / 2, wh], axis=1)


def cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    half = cxcywh[:, 2:4] / 2
    return np.concatenate([cxcywh[:, 0:2] - half, cxcywh[:, 0:2] + half], axis=1)


class KalmanBoxModel:
    """Batched constant-velocity Kalman filter (the ``kalman`` motion model).

    Holds no track state itself: callers keep ``mean`` (N, 8) and ``cov`` (N, 8, 8) arrays and
    pass them in, so that the lifecycle code can select, append and drop tracks freely.
    """

    def __init__(self, config: MotionConfig) -> None:
        self.config = config

    def _size_scale(self, mean: np.ndarray) -> np.ndarray:
        """(N, 4) box sizes [w, h, w, h] that scale the noise of each coordinate."""
        wh = np.maximum(mean[:, 2:4], _MIN_SIZE)
        return np.concatenate([wh, wh], axis=1)

    def initiate(self, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start tracks at boxes ``xyxy`` (N, 4) with zero velocity."""
        n = len(xyxy)
        mean = np.zeros((n, STATE_DIM))
        mean[:, :4] = xyxy_to_cxcywh(xyxy)
        scale = self._size_scale(mean)
        std = np.concatenate(
            [2 * self.config.std_measurement * scale, self.config.std_velocity_init * scale], axis=1
        )
        cov = np.zeros((n, STATE_DIM, STATE_DIM))
        idx = np.arange(STATE_DIM)
        cov[:, idx, idx] = std**2
        return mean, cov

    def process_noise(self, mean: np.ndarray, dt: float) -> np.ndarray:
        """(N, 8, 8) process noise: white acceleration, std proportional to box size."""
        q = _unit_process_noise(dt)
        var = (self.config.std_acceleration * self._size_scale(mean)) ** 2  # (N, 4)
        n = len(mean)
        Q = np.zeros((n, STATE_DIM, STATE_DIM))
        idx = np.arange(4)
        Q[:, idx, idx] = var * q[0, 0]
        Q[:, idx, idx + 4] = var * q[0, 1]
        Q[:, idx + 4, idx] = var * q[1, 0]
        Q[:, idx + 4, idx + 4] = var * q[1, 1]
        return Q

    def measurement_noise(self, mean: np.ndarray) -> np.ndarray:
        """(N, 4) measurement variances, proportional to the box size."""
        return (self.config.std_measurement * self._size_scale(mean)) ** 2

    def predict(self, mean: np.ndarray, cov: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Advance every track by ``dt`` seconds. Returns new arrays; inputs are not modified."""
        if len(mean) == 0 or dt <= 0:
            return mean.copy(), cov.copy()
        F = _transition(float(dt))
        Q = self.process_noise(mean, float(dt))
        new_mean = mean @ F.T
        new_cov = F @ cov @ F.T + Q
        # A box cannot shrink below a pixel, however fast its size was changing.
        np.maximum(new_mean[:, 2:4], _MIN_SIZE, out=new_mean[:, 2:4])
        return new_mean, new_cov

    def update(
        self, mean: np.ndarray, cov: np.ndarray, xyxy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correct tracks with measured boxes ``xyxy`` (N, 4), row for row."""
        if len(mean) == 0:
            return mean.copy(), cov.copy()
        z = xyxy_to_cxcywh(xyxy)
        R = self.measurement_noise(mean)
        S = cov[:, :4, :4].copy()
        idx = np.arange(MEAS_DIM)
        S[:, idx, idx] += R
        PHt = cov[:, :, :4]  # P H^T, with H = [I 0]
        gain = np.linalg.solve(S, PHt.transpose(0, 2, 1)).transpose(0, 2, 1)  # (N, 8, 4)
        innovation = z - mean[:, :4]
        new_mean = mean + np.einsum("nij,nj->ni", gain, innovation)
        new_cov = cov - gain @ cov[:, :4, :]
        np.maximum(new_mean[:, 2:4], _MIN_SIZE, out=new_mean[:, 2:4])
        return new_mean, new_cov

    @staticmethod
    def boxes(mean: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy boxes of the state means."""
        return cxcywh_to_xyxy(mean[:, :4])
