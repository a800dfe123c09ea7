import numpy as np
import pytest

from tracker import associate
from tracker.associate import PairCosts, assign, associate_byte, cost_matrix, iou_matrix
from tracker.config import AssociationConfig, LifecycleConfig
from tracker.structures import TrackState


def boxes(*rows):
    return np.array(rows, dtype=float)


def test_iou_known_values():
    a = boxes([0, 0, 10, 10])
    b = boxes([0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30])
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


@pytest.mark.parametrize("kind", ["iou", "giou", "diou"])
def test_costs_are_zero_for_identical_boxes_and_grow_with_distance(kind):
    a = boxes([0, 0, 10, 10])
    b = boxes([0, 0, 10, 10], [3, 0, 13, 10], [30, 0, 40, 10], [60, 0, 70, 10])
    cost = cost_matrix(kind, a, b)[0]
    assert cost[0] == pytest.approx(0.0)
    assert cost[0] < cost[1] < cost[2]
    if kind != "iou":  # iou is blind once boxes stop overlapping; the others are not
        assert cost[2] < cost[3]


def test_assign_empty_inputs():
    for shape in [(0, 3), (3, 0), (0, 0)]:
        m = assign(np.zeros(shape), 0.5)
        assert len(m.track_idx) == 0
        assert m.unmatched_tracks.tolist() == list(range(shape[0]))
        assert m.unmatched_dets.tolist() == list(range(shape[1]))


def test_assign_everything_gated_out():
    m = assign(np.full((2, 3), 0.9), 0.5)
    assert len(m.track_idx) == 0
    assert m.unmatched_tracks.tolist() == [0, 1] and m.unmatched_dets.tolist() == [0, 1, 2]


def test_assign_rectangular_optimal_and_does_not_mutate():
    cost = np.array([[0.1, 0.2, 0.9], [0.15, 0.9, 0.9]])
    before = cost.copy()
    m = assign(cost, 0.5)
    # Greedy would take (0, 0) and leave track 1 with nothing; the optimum is 0.2 + 0.15.
    assert sorted(zip(m.track_idx.tolist(), m.det_idx.tolist(), strict=True)) == [(0, 1), (1, 0)]
    assert m.unmatched_dets.tolist() == [2]
    np.testing.assert_array_equal(cost, before)


def test_gated_pair_never_matched_even_when_forced():
    cost = np.array([[0.1, 0.95]])
    m = assign(cost, 0.5)
    assert m.det_idx.tolist() == [0]
    m = assign(np.array([[0.95], [0.1]]), 0.5)
    assert m.track_idx.tolist() == [1]


def pairs(matched):
    return sorted(zip(matched.track_idx.tolist(), matched.det_idx.tolist(), strict=True))


def test_a_match_is_added_only_where_it_lowers_the_total():
    # Track 0 sits on detection 0; track 1 (say a lost one) half-overlaps it and nothing else.
    # Matching both (0 -> 1 and 1 -> 0 at 0.6 each) costs more than the clear pair with the
    # other two left unmatched (0.05 + 0.7 + the margin): the clear pair alone is taken.
    assert associate.UNMATCHED_MARGIN < 0.35
    assert pairs(assign(np.array([[0.05, 0.6], [0.6, 0.9]]), 0.7)) == [(0, 0)]
    # Where the two pairs are together better than that, both are taken.
    assert pairs(assign(np.array([[0.05, 0.3], [0.3, 0.9]]), 0.7)) == [(0, 1), (1, 0)]
    # A pair at the gate itself is still matched.
    assert pairs(assign(np.array([[0.7]]), 0.7)) == [(0, 0)]


@pytest.mark.parametrize("dense_max", [10**9, 0])
def test_the_sparse_form_adds_matches_by_the_same_rule(monkeypatch, dense_max):
    monkeypatch.setattr(associate, "DENSE_MAX_PAIRS", dense_max)
    # Track 0 on detection 0, which track 1 overlaps too (cost 0.46); detection 1 overlaps
    # track 0 (0.67) but not track 1 enough. Both matched would cost 1.13, against 0 plus two
    # left unmatched (0.7 + the margin).
    assert associate.UNMATCHED_MARGIN < 0.4
    tracks = boxes([0, 0, 10, 10], [3, 0, 13, 10])
    dets = boxes([0, 0, 10, 10], [-5, 0, 5, 10])
    costs = PairCosts("iou", tracks, dets, 0.7)
    assert costs.sparse == (dense_max == 0)
    assert pairs(costs.match(np.arange(2), np.arange(2), 0.7)) == [(0, 0)]


@pytest.mark.parametrize("dense_max", [10**9, 0])
def test_iou_cost_never_matches_boxes_that_do_not_overlap(monkeypatch, dense_max):
    monkeypatch.setattr(associate, "DENSE_MAX_PAIRS", dense_max)
    far = PairCosts("iou", boxes([0, 0, 10, 10]), boxes([400, 0, 410, 10]), 1.2)
    for use_iou in (False, True):
        assert len(far.match(np.arange(1), np.arange(1), 1.2, use_iou).track_idx) == 0


def scene(rng, n, jitter):
    xy = rng.uniform(0, 1500, (n, 2))
    wh = rng.uniform(15, 60, (n, 2))
    tracks = np.concatenate([xy, xy + wh], axis=1)
    dets = tracks + rng.normal(0, jitter, tracks.shape)
    dets = dets[rng.permutation(n)][: int(n * 0.9)]
    return tracks, dets


@pytest.mark.parametrize("kind,gate", [("iou", 0.7), ("giou", 1.0), ("diou", 0.9), ("giou", 1.2)])
def test_sparse_matching_equals_dense(rng, monkeypatch, kind, gate):
    tracks, dets = scene(rng, 400, 6.0)
    rows = np.arange(0, 400, 1)
    cols = np.arange(len(dets))
    monkeypatch.setattr(associate, "DENSE_MAX_PAIRS", 10**9)
    dense = PairCosts(kind, tracks, dets, gate)
    monkeypatch.setattr(associate, "DENSE_MAX_PAIRS", 100)
    sparse = PairCosts(kind, tracks, dets, gate)
    assert sparse.sparse and not dense.sparse
    for use_iou in (False, True):
        d = dense.match(rows, cols, gate if not use_iou else 0.6, use_iou)
        s = sparse.match(rows, cols, gate if not use_iou else 0.6, use_iou)
        assert pairs(d) == pairs(s)
    # the same on subsets of rows and columns
    sub_r, sub_c = rows[::2], cols[1::3]
    d = dense.match(sub_r, sub_c, gate)
    s = sparse.match(sub_r, sub_c, gate)
    assert pairs(d) == pairs(s)


def test_byte_rounds_give_weak_detections_to_confirmed_tracks_only():
    box = np.array([[0, 0, 10, 10], [50, 0, 60, 10], [100, 0, 110, 10], [150, 0, 160, 10]], float)
    state = np.array([TrackState.CONFIRMED, TrackState.LOST, TrackState.TENTATIVE, TrackState.CONFIRMED])
    # a weak detection on the confirmed and on the lost track, a confident one on the
    # tentative track, nothing near the last track, and a confident detection of nothing
    dets = np.array([[1, 0, 11, 10], [51, 0, 61, 10], [101, 0, 111, 10], [300, 0, 310, 10]], float)
    score = np.array([0.3, 0.3, 0.9, 0.9])
    m = associate_byte(box, state.astype(np.int8), dets, score, AssociationConfig(), LifecycleConfig())
    assert pairs(m) == [(0, 0), (2, 2)]
    assert m.unmatched_tracks.tolist() == [1, 3] and m.unmatched_dets.tolist() == [1, 3]
    empty = associate_byte(
        box, state.astype(np.int8), np.zeros((0, 4)), np.zeros(0), AssociationConfig(), LifecycleConfig()
    )
    assert len(empty.track_idx) == 0 and empty.num_tracks == 4


def test_refind_round_matches_lost_tracks_by_their_last_box():
    # The lost track's prediction ran off to x=300; where it was last seen, at x=0, a car is
    # detected again. Only the re-finding round, on the last observed box, takes it.
    predicted = np.array([[300, 0, 340, 40]], float)
    last = np.array([[0, 0, 40, 40]], float)
    state = np.array([TrackState.LOST], np.int8)
    dets = np.array([[2, 0, 42, 40], [500, 0, 540, 40]], float)
    score = np.array([0.9, 0.9])
    life = LifecycleConfig()
    off = associate_byte(predicted, state, dets, score, AssociationConfig(recovery_max_cost=0.0), life, last)
    assert pairs(off) == []
    on = AssociationConfig(recovery_max_cost=0.0, refind_max_cost=0.6)
    m = associate_byte(predicted, state, dets, score, on, life, last)
    assert pairs(m) == [(0, 0)]
    assert m.num_dets == 2 and m.unmatched_dets.tolist() == [1]


def test_spread_gate_matches_confident_predictions_tightly_and_uncertain_ones_loosely(rng, monkeypatch):
    # Two tracks predicted at the same box; a detection 6 px off (IoU 0.74, inside every IoU
    # gate). The confident track (2 px spread) may not take it at a 2-sigma gate; the
    # uncertain one (5 px) may. The same holds dense and sparse.
    predicted = np.array([[0, 0, 40, 40], [100, 0, 140, 40]], float)
    dets = np.array([[6, 0, 46, 40], [106, 0, 146, 40]], float)
    std = np.array([[2.0, 2.0], [5.0, 5.0]])
    state = np.array([TrackState.CONFIRMED] * 2, np.int8)
    score = np.array([0.9, 0.9])
    life = LifecycleConfig()
    plain = AssociationConfig(recovery_max_cost=0.0)
    assert pairs(associate_byte(predicted, state, dets, score, plain, life, None, std)) == [(0, 0), (1, 1)]
    gated = AssociationConfig(recovery_max_cost=0.0, spread_gate=2.0)
    assert pairs(associate_byte(predicted, state, dets, score, gated, life, None, std)) == [(1, 1)]
    # without spreads the gate has nothing to scale with and stays open
    assert pairs(associate_byte(predicted, state, dets, score, gated, life)) == [(0, 0), (1, 1)]
    tracks, many = scene(rng, 300, 3.0)
    spreads = rng.uniform(1.0, 6.0, (len(tracks), 2))
    monkeypatch.setattr(associate, "DENSE_MAX_PAIRS", 10**9)
    dense = PairCosts("giou", tracks, many, 1.0, spreads, 1.5)
    monkeypatch.setattr(associate, "DENSE_MAX_PAIRS", 100)
    sparse = PairCosts("giou", tracks, many, 1.0, spreads, 1.5)
    rows, cols = np.arange(len(tracks)), np.arange(len(many))
    assert pairs(dense.match(rows, cols, 1.0)) == pairs(sparse.match(rows, cols, 1.0))
    assert len(pairs(dense.match(rows, cols, 1.0))) < len(
        pairs(PairCosts("giou", tracks, many, 1.0).match(rows, cols, 1.0))
    )
