import numpy as np
import pytest
import torch

from tracker.detect import builtin
from tracker.detect.builtin import STRIDE, BuiltinDetector, decode, input_size
from tracker.source import Frame


def test_input_size_keeps_aspect_and_multiples_of_32():
    assert input_size(720, 1280)[:2] == (288, 512)
    h, w, scale = input_size(240, 320)
    assert h % 32 == 0 and w % 32 == 0 and scale == pytest.approx(1.6)


def test_decode_peak_to_box_in_image_pixels():
    heat = torch.full((1, 1, 8, 10), -10.0)
    heat[0, 0, 3, 5] = 5.0  # one confident peak at cell (x=5, y=3)
    size = torch.zeros((1, 2, 8, 10))
    size[0, :, 3, 5] = torch.log(torch.tensor([4.0, 2.0]))  # 16 x 8 input pixels
    offset = torch.zeros((1, 2, 8, 10))
    offset[0, :, 3, 5] = 0.5
    (dets,) = decode(heat, size, offset, scale=0.5, threshold=0.3)
    cx, cy = 5.5 * STRIDE / 0.5, 3.5 * STRIDE / 0.5
    np.testing.assert_allclose(dets.xyxy, [[cx - 16, cy - 8, cx + 16, cy + 8]], rtol=1e-5)
    assert dets.score[0] > 0.99


@pytest.mark.skipif(not builtin.WEIGHTS.is_file(), reason="shipped weights not built yet")
def test_shipped_weights_load_safely_and_find_most_visible_boxes():
    from tracker.associate import iou_matrix
    from tracker.eval.synthetic import SynthConfig, SyntheticVideo

    loaded = torch.load(builtin.WEIGHTS, weights_only=True)
    assert isinstance(loaded, dict)
    assert builtin.WEIGHTS.stat().st_size < 2_000_000
    det = BuiltinDetector(device="cpu")
    video = list(SyntheticVideo(SynthConfig(width=640, height=360, num_frames=30, seed=3)).frames())
    found = total = 0
    for index in (5, 15, 25):  # a seed below the training seeds
        image, truth = video[index]
        (dets,) = det.detect([Frame(index, 0.0, image)])
        dets = dets[dets.score >= 0.2]
        clear = truth.xyxy[truth.visibility >= 0.5]
        total += len(clear)
        if len(dets) and len(clear):
            found += int((iou_matrix(clear, dets.xyxy).max(axis=1) >= 0.5).sum())
    assert total > 0 and found / total >= 0.7, (found, total)


def test_bad_weights_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "w.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not BoxNet weights"):
        BuiltinDetector(bad, device="cpu")
    with pytest.raises(FileNotFoundError, match="train-detector"):
        BuiltinDetector(tmp_path / "missing.pt", device="cpu")


def test_training_is_reproducible(tmp_path):
    from tracker.training.detector import train

    a = train(tmp_path / "a.pt", steps=2, batch_size=2, seed=5)
    b = train(tmp_path / "b.pt", steps=2, batch_size=2, seed=5)
    assert a == b
    state = torch.load(tmp_path / "a.pt", weights_only=True)
    BuiltinDetector(tmp_path / "a.pt", device="cpu")
    assert "heatmap.weight" in state


@pytest.mark.skipif(not builtin.WEIGHTS.is_file(), reason="shipped weights not built yet")
def test_edge_refinement_tightens_the_boxes_and_can_be_switched_off():
    from tracker.associate import iou_matrix
    from tracker.detect import make_detector
    from tracker.eval.synthetic import SynthConfig, SyntheticVideo

    refined = make_detector("builtin", "cpu")
    raw = make_detector("builtin", "cpu", refine_edges=False)
    assert refined.refine_edges and not raw.refine_edges
    video = list(SyntheticVideo(SynthConfig(width=640, height=360, num_frames=30, seed=5)).frames())
    ious = {"refined": [], "raw": []}
    for index in (5, 15, 25):
        image, truth = video[index]
        clear = truth.xyxy[truth.visibility >= 0.5]
        for name, det in (("refined", refined), ("raw", raw)):
            (dets,) = det.detect([Frame(index, 0.0, image)])
            best = iou_matrix(clear, dets[dets.score >= 0.3].xyxy).max(axis=1)
            ious[name] += list(best[best >= 0.5])
    assert np.mean(ious["refined"]) > np.mean(ious["raw"])
    assert np.mean(ious["refined"]) > 0.9, ious
