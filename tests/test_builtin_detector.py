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


def test_saturation_stretch_makes_pale_colours_saturated_and_keeps_grey_and_saturated_ones():
    import cv2

    from tracker.detect.builtin import stretch_saturation

    pale = np.array([[[180, 200, 230], [120, 121, 119], [20, 60, 230]]], np.uint8)  # BGR
    hsv_in = cv2.cvtColor(pale, cv2.COLOR_BGR2HSV).astype(int)
    hsv_out = cv2.cvtColor(stretch_saturation(pale), cv2.COLOR_BGR2HSV).astype(int)
    assert hsv_in[0, 0, 1] < 60 and hsv_out[0, 0, 1] > 170  # pale (0.22) -> saturated (0.7)
    assert hsv_out[0, 1, 1] == 0  # grey stays grey
    np.testing.assert_allclose(hsv_out[0, 2, :2], hsv_in[0, 2, :2], atol=2)  # saturated: as it was
    np.testing.assert_allclose(hsv_out[0, :, 2], hsv_in[0, :, 2], atol=1)  # brightness kept


@pytest.mark.skipif(not builtin.WEIGHTS.is_file(), reason="shipped weights not built yet")
def test_pale_boxes_and_a_touching_pair_of_one_hue_are_found():
    import colorsys

    from tracker.associate import iou_matrix

    rng = np.random.default_rng(4)
    image = np.repeat(np.clip(125 + rng.normal(0, 8, (360, 640)), 0, 255).astype(np.uint8)[..., None], 3, 2)
    truth = [(40, 40, 160, 120), (300, 200, 380, 330), (420, 60, 520, 150), (520, 60, 600, 150)]
    colours = [(0.1, 0.2, 0.8), (0.6, 0.25, 0.9), (0.3, 0.6, 0.9), (0.3, 0.6, 0.72)]  # HSV
    for (x1, y1, x2, y2), hsv in zip(truth, colours, strict=True):
        r, g, b = colorsys.hsv_to_rgb(*hsv)
        image[y1:y2, x1:x2] = np.array([b, g, r]) * 255
    (dets,) = BuiltinDetector(device="cpu").detect([Frame(0, 0.0, image)])
    dets = dets[dets.score >= 0.3]
    best = iou_matrix(np.array(truth, np.float32), dets.xyxy).max(axis=1)
    assert (best >= 0.9).all(), best
