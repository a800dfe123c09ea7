"""Association: cost matrices between predicted track boxes and detections, gating, and
Hungarian assignment (``scipy.optimize.linear_sum_assignment``).

Costs are in [0, 2], 0 for identical boxes:
- ``iou``:  1 - IoU; blind once boxes stop overlapping, so such pairs are never matched
  (they would all cost 1, whatever their distance, and a gate of 1 would match them anywhere).
- ``giou``: 1 - generalised IoU; grows with the empty space of the enclosing box.
- ``diou``: 1 - distance IoU; adds the squared centre distance over the squared diagonal of
  the enclosing box, so a fast or small object whose boxes do not overlap between frames
  still prefers the nearest detection (with a gate above 1).

Small problems use dense matrices. Large ones (hundreds of objects) use ``PairCosts`` in its
sparse form: only pairs of boxes near enough to pass the widest gate are scored (found by a
sort-and-sweep), and the assignment is solved per connected component of that pair graph, so a
frame with 1000 well separated objects costs about as much as 1000 small problems, not one
1000 x 1000 Hungarian.

``associate_byte`` is the association policy the tracker calls once a frame: BYTE's split of
the detections by score and its matching rounds, returning one ``Matches`` for the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .config import AssociationConfig, LifecycleConfig
from .structures import TrackState

_EMPTY = np.zeros(0, np.int64)


@dataclass(frozen=True)
class Matches:
    """Result of an assignment: track ``track_idx[i]`` takes detection ``det_idx[i]``. Indices
    refer to the rows/columns of the cost matrix (of the whole frame, for ``PairCosts``)."""

    track_idx: np.ndarray
    det_idx: np.ndarray
    num_tracks: int
    num_dets: int

    @property
    def unmatched_tracks(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.num_tracks), self.track_idx)

    @property
    def unmatched_dets(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.num_dets), self.det_idx)


def _pairwise(a: np.ndarray, b: np.ndarray, outer: bool = True):
    """Coordinates, IoU and union of every pair (``outer``: all N x M pairs, as (N, 1) and
    (1, M) columns) or of row i of ``a`` with row i of ``b`` (not ``outer``)."""
    a = np.asarray(a, dtype=np.float64).T
    b = np.asarray(b, dtype=np.float64).T
    if outer:
        a, b = a[:, :, None], b[:, None, :]  # (4, N, 1), (4, 1, M)
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    iw = np.minimum(a[2], b[2]) - np.maximum(a[0], b[0])
    ih = np.minimum(a[3], b[3]) - np.maximum(a[1], b[1])
    np.maximum(iw, 0.0, out=iw)
    np.maximum(ih, 0.0, out=ih)
    inter = iw * ih
    union = area_a + area_b - inter
    iou = inter / np.maximum(union, 1e-9)
    return a, b, iou, union


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of xyxy boxes ``a`` (N, 4) and ``b`` (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return _pairwise(a, b)[2]


def cost_matrix(kind: str, tracks_xyxy: np.ndarray, dets_xyxy: np.ndarray) -> np.ndarray:
    """(N, M) matching cost of each track box against each detection box (see module doc)."""
    return cost_and_iou(kind, tracks_xyxy, dets_xyxy)[0]


def cost_and_iou(kind: str, tracks_xyxy: np.ndarray, dets_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (N, M) cost matrix of ``kind`` and the IoU matrix, computed together."""
    n, m = len(tracks_xyxy), len(dets_xyxy)
    if n == 0 or m == 0:
        return np.zeros((n, m)), np.zeros((n, m))
    a, b, iou, union = _pairwise(tracks_xyxy, dets_xyxy)
    return _cost(kind, a, b, iou, union), iou


def _iou_cost(iou: np.ndarray) -> np.ndarray:
    """1 - IoU, infinite for boxes that do not overlap (see ``_cost``)."""
    return np.where(iou > 0, 1.0 - iou, np.inf)


def _cost(kind: str, a: np.ndarray, b: np.ndarray, iou: np.ndarray, union: np.ndarray) -> np.ndarray:
    if kind == "iou":
        return _iou_cost(iou)
    ew = np.maximum(a[2], b[2]) - np.minimum(a[0], b[0])
    eh = np.maximum(a[3], b[3]) - np.minimum(a[1], b[1])
    if kind == "giou":
        enclosing = np.maximum(ew * eh, 1e-9)
        return 1.0 - iou + (enclosing - union) / enclosing
    if kind == "diou":
        dx = (a[0] + a[2] - b[0] - b[2]) / 2
        dy = (a[1] + a[3] - b[1] - b[3]) / 2
        return 1.0 - iou + (dx * dx + dy * dy) / np.maximum(ew * ew + eh * eh, 1e-9)
    raise ValueError(f"unknown cost {kind!r}: expected iou, giou or diou")


# What leaving a track and a detection unmatched costs beyond the gate, for the two: with none
# (ByteTrack's cost_limit) one good pair beats two fair ones whose sum is above it plus the
# gate; a little more keeps both when they are nearly as good. Measured on KITTI dev and the
# urban clip: none and 0.1 gave the most KITTI gain (Kalman car HOTA RRC 82.24, PointRCNN 72.71)
# but, on the urban clip, handed a car track the detection of the car beside it at frame 30
# and left its own car to a new id; 0.2 keeps that car's id and the KITTI gain (82.24, 72.69;
# every changed sequence better). Larger margins keep the id too, but tend to the old rule
# (matching for the most pairs first: 82.21, 72.64) and give the gain back.
UNMATCHED_MARGIN = 0.2


def _net_cost(cost: np.ndarray, max_cost: float) -> np.ndarray:
    """Each pair's cost net of leaving its track and detection unmatched, which costs
    ``max_cost + UNMATCHED_MARGIN`` for the two: negative within the gate, and the assignment
    minimises its sum."""
    return cost - (max_cost + UNMATCHED_MARGIN)


def assign(cost: np.ndarray, max_cost: float) -> Matches:
    """Minimum-cost one-to-one assignment; pairs costing more than ``max_cost`` are not matched.

    The total minimised counts every track and detection left unmatched at ``max_cost +
    UNMATCHED_MARGIN`` for the two (ByteTrack's ``cost_limit``, with a margin), not the number
    of matches first: a match is added only where it lowers that total. A lost track whose
    prediction half-overlaps a car's detection then does not take it from the car's own track,
    sending that track to a worse box, merely so that both are matched. ``cost`` is not
    modified.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return Matches(_EMPTY, _EMPTY, n, m)
    allowed = cost <= max_cost
    rows, cols = linear_sum_assignment(np.where(allowed, _net_cost(cost, max_cost), 0.0))
    keep = allowed[rows, cols]
    return Matches(rows[keep].astype(np.int64), cols[keep].astype(np.int64), n, m)


# Above this many track/detection pairs, and with gates that only admit nearby boxes, the
# sparse form is faster than dense matrices.
DENSE_MAX_PAIRS = 20_000
# Widest gate the sparse form supports; see ``_search_margin``.
SPARSE_MAX_GATE = 1.5


def _search_margin(max_gate: float) -> float:
    """How far (in box sizes) apart two boxes may be and still cost at most ``max_gate``.

    Every cost is above 1 for boxes that do not overlap, so gates up to 1 need overlapping
    boxes only. Above 1 the bound is generous for the three costs (e.g. two equal squares
    two sides apart have 1 - GIoU = 1.5).
    """
    return 0.0 if max_gate <= 1.0 else 4.0 * (max_gate - 1.0)


class PairCosts:
    """Cost and IoU of every track/detection pair that any round may match.

    Dense (full matrices) for small problems; sparse (candidate pairs only) for large ones.
    ``match`` solves one round on a subset of tracks and detections.
    """

    def __init__(
        self,
        kind: str,
        tracks_xyxy: np.ndarray,
        dets_xyxy: np.ndarray,
        max_gate: float,
        centre_std: np.ndarray | None = None,
        spread_gate: float = 0.0,
    ) -> None:
        """``centre_std`` (N, 2) and ``spread_gate`` > 0: pairs whose centres lie further apart
        than ``spread_gate`` of the track's standard deviations cost infinity (never matched
        on ``cost``; the IoU of ``use_iou`` rounds is not gated)."""
        n, m = len(tracks_xyxy), len(dets_xyxy)
        self.shape = (n, m)
        self.sparse = n * m > DENSE_MAX_PAIRS and max_gate <= SPARSE_MAX_GATE
        gated = centre_std is not None and spread_gate > 0
        if not self.sparse:
            self.cost, self.iou = cost_and_iou(kind, tracks_xyxy, dets_xyxy)
            if gated and n and m:
                far = _spread_distance(tracks_xyxy, dets_xyxy, centre_std) > spread_gate**2
                self.cost = np.where(far, np.inf, self.cost)
            return
        t_idx, d_idx = _nearby_pairs(tracks_xyxy, dets_xyxy, _search_margin(max_gate))
        a, b, iou, union = _pairwise(tracks_xyxy[t_idx], dets_xyxy[d_idx], outer=False)
        self.t_idx, self.d_idx = t_idx, d_idx
        self.pair_cost = _cost(kind, a, b, iou, union)
        if gated:
            d2 = _spread_distance(tracks_xyxy[t_idx], dets_xyxy[d_idx], centre_std[t_idx], outer=False)
            self.pair_cost[d2 > spread_gate**2] = np.inf
        self.pair_iou = iou

    def match(self, rows: np.ndarray, cols: np.ndarray, max_cost: float, use_iou: bool = False) -> Matches:
        """One round: minimum-cost matching of tracks ``rows`` to detections ``cols`` (indices
        into the full problem, as are the result's), within ``max_cost``. With ``use_iou`` the
        cost is 1 - IoU."""
        return Matches(*self._match(rows, cols, max_cost, use_iou), *self.shape)

    def _match(
        self, rows: np.ndarray, cols: np.ndarray, max_cost: float, use_iou: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        if len(rows) == 0 or len(cols) == 0:
            return _EMPTY, _EMPTY
        if not self.sparse:
            cost = (_iou_cost(self.iou) if use_iou else self.cost)[rows][:, cols]
            m = assign(cost, max_cost)
            return rows[m.track_idx], cols[m.det_idx]
        row_ok = np.zeros(self.shape[0], bool)
        row_ok[rows] = True
        col_ok = np.zeros(self.shape[1], bool)
        col_ok[cols] = True
        cost = _iou_cost(self.pair_iou) if use_iou else self.pair_cost
        keep = row_ok[self.t_idx] & col_ok[self.d_idx] & (cost <= max_cost)
        net = _net_cost(cost[keep], max_cost)
        return _match_components(self.t_idx[keep], self.d_idx[keep], net, self.shape)


def _spread_distance(a: np.ndarray, b: np.ndarray, std: np.ndarray, outer: bool = True) -> np.ndarray:
    """Squared distances of the centres of boxes ``b`` from those of ``a``, in the standard
    deviations ``std`` (rows of ``a``) of x and y: (N, M) when ``outer``, else row for row."""
    ca = (np.asarray(a, np.float64)[:, 0:2] + np.asarray(a, np.float64)[:, 2:4]) / 2
    cb = (np.asarray(b, np.float64)[:, 0:2] + np.asarray(b, np.float64)[:, 2:4]) / 2
    std = np.maximum(np.asarray(std, np.float64), 1e-6)
    if outer:
        ca, cb, std = ca[:, None], cb[None], std[:, None]
    return (((ca - cb) / std) ** 2).sum(-1)


def _nearby_pairs(a: np.ndarray, b: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) whose boxes overlap once ``a[i]`` is grown by ``margin`` times its size.

    Sort-and-sweep on x: detections sorted by x1; for each track only the detections whose x1
    lies in [track.x1 - widest detection, track.x2] can overlap it in x.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    wh = a[:, 2:4] - a[:, 0:2]
    grow = np.concatenate([-wh, wh], axis=1) * margin
    a = a + grow
    order = np.argsort(b[:, 0], kind="stable")
    bx1 = b[order, 0]
    widest = float((b[:, 2] - b[:, 0]).max()) if len(b) else 0.0
    lo = np.searchsorted(bx1, a[:, 0] - widest, side="left")
    hi = np.searchsorted(bx1, a[:, 2], side="right")
    counts = hi - lo
    t_idx = np.repeat(np.arange(len(a)), counts)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    d_idx = order[np.arange(len(t_idx)) + starts]
    overlap = (
        (b[d_idx, 2] > a[t_idx, 0])
        & (b[d_idx, 0] < a[t_idx, 2])
        & (b[d_idx, 3] > a[t_idx, 1])
        & (b[d_idx, 1] < a[t_idx, 3])
    )
    return t_idx[overlap].astype(np.int64), d_idx[overlap].astype(np.int64)


def _match_components(
    t_idx: np.ndarray, d_idx: np.ndarray, net: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal assignment over candidate pairs (``net`` < 0 each, see ``assign``), solved per
    connected component."""
    if len(t_idx) == 0:
        return _EMPTY, _EMPTY
    n, m = shape
    graph = coo_matrix((np.ones(len(t_idx)), (t_idx, n + d_idx)), shape=(n + m, n + m))
    _, labels = connected_components(graph, directed=False)
    comp = labels[t_idx]
    edges = np.bincount(comp, minlength=labels.max() + 1)
    single = edges[comp] == 1  # one pair: one track and one detection, nothing to decide
    out_t, out_d = [t_idx[single]], [d_idx[single]]
    multi = ~single
    if multi.any():
        mt, md, mn, mcomp = t_idx[multi], d_idx[multi], net[multi], comp[multi]
        rows, r_inv = np.unique(mt, return_inverse=True)
        cols, c_inv = np.unique(md, return_inverse=True)
        if len(rows) * len(cols) <= DENSE_MAX_PAIRS * 10:
            # Components do not share nodes: one Hungarian over all of them, block-diagonal.
            groups = [(r_inv, c_inv, mn)]
        else:
            order = np.argsort(mcomp, kind="stable")
            bounds = np.flatnonzero(np.diff(mcomp[order])) + 1
            groups = zip(*(np.split(x[order], bounds) for x in (r_inv, c_inv, mn)), strict=True)
        for gr, gc, gn in groups:
            r, c = _solve_sparse(gr, gc, gn)
            out_t.append(rows[r])
            out_d.append(cols[c])
    return np.concatenate(out_t).astype(np.int64), np.concatenate(out_d).astype(np.int64)


def _solve_sparse(r: np.ndarray, c: np.ndarray, net: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian on the pairs (r, c) with ``net`` (``assign``); absent pairs, worth nothing,
    are never matched."""
    rows, r_inv = np.unique(r, return_inverse=True)
    cols, c_inv = np.unique(c, return_inverse=True)
    dense = np.zeros((len(rows), len(cols)))
    dense[r_inv, c_inv] = net
    present = np.zeros(dense.shape, bool)
    present[r_inv, c_inv] = True
    i, j = linear_sum_assignment(dense)
    ok = present[i, j]
    return rows[i[ok]], cols[j[ok]]


_TENTATIVE = np.int8(TrackState.TENTATIVE)
_CONFIRMED = np.int8(TrackState.CONFIRMED)
_LOST = np.int8(TrackState.LOST)


def _nonzero(mask: np.ndarray) -> np.ndarray:
    """Indices where ``mask`` is true (``np.flatnonzero`` without its per-call overhead)."""
    return mask.nonzero()[0]


class _Rounds:
    """The matches of a frame so far: the detection of each track (-1: none yet) and the
    detections taken."""

    def __init__(self, costs: PairCosts) -> None:
        self.costs = costs
        self.track_det = np.full(costs.shape[0], -1, np.int64)
        self.det_used = np.zeros(costs.shape[1], bool)

    def round(self, rows: np.ndarray, cols: np.ndarray, max_cost: float, use_iou: bool = False) -> None:
        if len(rows) == 0 or len(cols) == 0:
            return
        m = self.costs.match(rows, cols, max_cost, use_iou)
        self.track_det[m.track_idx] = m.det_idx
        self.det_used[m.det_idx] = True


def associate_byte(
    predicted_xyxy: np.ndarray,
    track_state: np.ndarray,
    dets_xyxy: np.ndarray,
    det_score: np.ndarray,
    assoc: AssociationConfig,
    life: LifecycleConfig,
    last_xyxy: np.ndarray | None = None,
    centre_std: np.ndarray | None = None,
) -> Matches:
    """Match a frame's detections to the tracks' predicted boxes in BYTE's rounds.

    ``last_xyxy``: each track's last observed box, for the re-finding round of lost tracks
    (``assoc.refind_max_cost``). ``centre_std`` (N, 2): the predicted centres' standard
    deviations, for the centre gate ``assoc.spread_gate``.

    ``track_state`` holds each track's ``TrackState``. Detections split by score: confident
    ones (``life.high_score`` and up) and a low-score reserve (down to ``life.low_score``).
    One cost matrix (``assoc.cost``) serves every round; each round takes what the earlier
    ones left. Returns the frame's matches (indices of tracks and detections).
    """
    n, m = len(predicted_xyxy), len(dets_xyxy)
    if n == 0 or m == 0:
        return Matches(_EMPTY, _EMPTY, n, m)
    high = _nonzero(det_score >= life.high_score)
    low = _nonzero((det_score >= life.low_score) & (det_score < life.high_score))
    widest = max(assoc.max_cost, assoc.recovery_max_cost, assoc.tentative_max_cost)
    r = _Rounds(PairCosts(assoc.cost, predicted_xyxy, dets_xyxy, widest, centre_std, assoc.spread_gate))

    # 1. Confident detections vs confirmed and lost tracks.
    active = _nonzero(track_state != _TENTATIVE)
    r.round(active, high, assoc.max_cost)

    # 1b. Recovery: tracks and confident detections both still free, with a looser gate (fast
    #     or accelerating objects), once the tight round has taken the clear pairs.
    if assoc.recovery_max_cost > assoc.max_cost:
        left = active[r.track_det[active] < 0]
        r.round(left, high[~r.det_used[high]], assoc.recovery_max_cost)

    # 2. Low-score detections vs confirmed tracks still unmatched, on IoU (not lost tracks: a
    #    weak detection is evidence for a track that is there, not for one that vanished).
    left = _nonzero((r.track_det < 0) & (track_state == _CONFIRMED))
    r.round(left, low, assoc.low_max_cost, use_iou=True)

    # 2b. Re-finding: lost tracks vs confident detections still free, against the box where
    #     each was last seen. After a gap of many frames the prediction may have run off (a
    #     car that stopped behind another, a velocity taken from a turn); the last observation
    #     has not (OC-SORT's observation-centric recovery).
    if assoc.refind_max_cost > 0 and last_xyxy is not None:
        lost = _nonzero((r.track_det < 0) & (track_state == _LOST))
        if len(lost):
            free = high[~r.det_used[high]]
            if len(free):
                last = PairCosts(assoc.cost, last_xyxy[lost], dets_xyxy[free], assoc.refind_max_cost)
                found = last.match(np.arange(len(lost)), np.arange(len(free)), assoc.refind_max_cost)
                r.track_det[lost[found.track_idx]] = free[found.det_idx]
                r.det_used[free[found.det_idx]] = True

    # 3. Tentative tracks vs the detections nobody took that could start a track.
    tentative = _nonzero(track_state == _TENTATIVE)
    free = _nonzero(~r.det_used & (det_score >= min(life.high_score, life.new_track_score)))
    r.round(tentative, free, assoc.tentative_max_cost)

    rows = _nonzero(r.track_det >= 0)
    return Matches(rows, r.track_det[rows], n, m)
