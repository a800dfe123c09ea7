"""YOLOX in torch: architecture, weight files, lookup and download, views and their merging."""

from __future__ import annotations

import dataclasses
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from tracker.config import DetectorConfig
from tracker.detect import weights as wt
from tracker.detect.yolox import YoloxDetector, band_view, tile_views, whole_frame_view
from tracker.detect.yolox_net import SIZES, YOLOX
from tracker.source import Frame

ROOT = Path(__file__).resolve().parents[1]


def _settings(**kw) -> DetectorConfig:
    """YOLOX-nano on the CPU, whole frame only, unless ``kw`` says otherwise."""
    return DetectorConfig(
        **{"kind": "yolox-nano", "device": "cpu", "band_size": 0, "score_threshold": 0.1, **kw}
    )


ONNX = ROOT.parent / "shared" / "models" / "yolox_nano.onnx"
HIGHWAY = ROOT.parent / "shared" / "data" / "real" / "highway_720p.mp4"
needs_onnx = pytest.mark.skipif(not ONNX.is_file(), reason="needs ../shared/models/yolox_nano.onnx")

# Parameter counts the YOLOX authors publish for the released models (millions).
PUBLISHED_PARAMS_M = {"nano": 0.91, "tiny": 5.06, "s": 9.0, "m": 25.3, "l": 54.2, "x": 99.1}


@pytest.mark.parametrize("size", list(SIZES))
def test_every_size_has_the_published_parameter_count_and_output_layout(size):
    net = YOLOX(size).eval()
    params = sum(p.numel() for p in net.parameters()) / 1e6
    assert params == pytest.approx(PUBLISHED_PARAMS_M[size], rel=0.02)
    with torch.inference_mode():
        out = net(torch.zeros(2, 3, 64, 96))
    # anchors: 8x12 at stride 8, 4x6 at 16, 2x3 at 32
    assert out.shape == (2, 96 + 24 + 6, 85)
    assert float(out[..., 4:].min()) >= 0 and float(out[..., 4:].max()) <= 1  # sigmoid scores


def test_folding_batch_norm_keeps_the_outputs():
    torch.manual_seed(0)
    net = YOLOX("nano").eval()
    for m in net.modules():  # non-trivial statistics, so that folding has something to do
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.rand(1, 3, 96, 128) * 255
    with torch.inference_mode():
        before = net(x)
        after = net.fuse()(x)
    assert torch.allclose(before, after, atol=1e-3)


def _checkpoint(tmp_path: Path, size: str = "nano", edit=None) -> Path:
    state = YOLOX(size).state_dict()
    if edit:
        edit(state)
    path = tmp_path / f"yolox_{size}.pth"
    torch.save({"model": state, "start_epoch": 300}, path)
    return path


def test_official_checkpoint_layout_loads_strictly(tmp_path):
    path = _checkpoint(tmp_path)
    net = wt.load_network("nano", path)
    assert isinstance(net, YOLOX)
    # the release's key names, as in yolox_nano.pth
    keys = YOLOX("nano").state_dict()
    assert "backbone.backbone.stem.conv.conv.weight" in keys
    assert "backbone.C3_n4.m.0.conv2.dconv.bn.running_var" in keys
    assert "head.obj_preds.2.bias" in keys


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda s: s.pop("head.cls_preds.0.bias"), "missing key head.cls_preds.0.bias"),
        (lambda s: s.__setitem__("head.extra.weight", torch.zeros(1)), "unexpected key head.extra.weight"),
    ],
)
def test_a_checkpoint_with_a_missing_or_extra_key_fails_in_one_line(tmp_path, edit, words):
    path = _checkpoint(tmp_path, edit=edit)
    with pytest.raises(ValueError) as err:
        wt.load_network("nano", path)
    assert words in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_checkpoint_of_another_size_fails_in_one_line(tmp_path):
    path = _checkpoint(tmp_path, "tiny")
    with pytest.raises(ValueError, match="not a YOLOX-nano checkpoint"):
        wt.load_network("nano", path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a torch checkpoint"):
        wt.load_network("nano", garbage)


@needs_onnx
def test_torch_network_from_the_onnx_file_agrees_with_onnxruntime():
    import cv2
    import onnxruntime as ort

    from tracker.detect.onnx import OnnxYoloxDetector

    net = wt.load_network("nano", ONNX)
    rng = np.random.default_rng(0)
    blob = rng.uniform(0, 255, (1, 3, 416, 416)).astype(np.float32)
    session = ort.InferenceSession(str(ONNX), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: blob})[0]
    with torch.inference_mode():
        got = net(torch.from_numpy(blob)).numpy()
    assert np.abs(got - expected).max() < 1e-3

    # The same boxes on a real frame, both seeing it on a 416 x 416 canvas.
    if not HIGHWAY.is_file():
        pytest.skip("needs ../shared/data/real/highway_720p.mp4")
    cap = cv2.VideoCapture(str(HIGHWAY))
    ok, image = cap.read()
    assert ok
    reference = OnnxYoloxDetector(ONNX, threads=1).detect([Frame(0, 0.0, image)])[0]
    for runtime in ("torch", "onnxruntime"):
        ours = YoloxDetector(
            "nano",
            _settings(weights=str(ONNX), input_size=416, runtime=runtime, cross_class_iou=1.0),
            threads=1,
        )
        ours.views = lambda h, w: [dataclasses.replace(whole_frame_view(h, w, 416), canvas_hw=(416, 416))]
        found = ours.detect([Frame(0, 0.0, image)])[0]
        assert len(found) == len(reference) >= 2
        order_a, order_b = np.argsort(-found.score), np.argsort(-reference.score)
        assert np.abs(found.xyxy[order_a] - reference.xyxy[order_b]).max() < 0.5
        assert np.abs(found.score[order_a] - reference.score[order_b]).max() < 1e-3


def test_weights_are_looked_up_in_order(tmp_path, monkeypatch):
    env, cache = tmp_path / "env", tmp_path / "xdg"
    (env).mkdir()
    (cache / "driving-tracker").mkdir(parents=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("DRIVING_TRACKER_WEIGHTS", str(env))
    monkeypatch.setenv("DRIVING_TRACKER_WEIGHTS_URL", "http://127.0.0.1:9")  # nothing listens
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(b"x")
    in_cache = cache / "driving-tracker" / "yolox_s.pth"
    in_cache.write_bytes(b"x")
    assert wt.find_weights("s", explicit) == explicit
    assert wt.find_weights("s") == in_cache  # env folder empty: the cache
    (env / "yolox_s.onnx").write_bytes(b"x")
    assert wt.find_weights("s") == env / "yolox_s.onnx"  # the env folder before the cache
    (env / "yolox_s.pth").write_bytes(b"x")
    assert wt.find_weights("s") == env / "yolox_s.pth"  # a checkpoint before an export
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        wt.find_weights("s", tmp_path / "missing.pth")
    with pytest.raises(wt.WeightsNotFoundError) as err:
        wt.find_weights("m")  # nowhere, and the download cannot connect
    text = str(err.value)
    assert "yolox_m.pth" in text and "http://127.0.0.1:9/yolox_m.pth" in text and str(cache) in text
    assert "\n" not in text


class _Server:
    """Serves ``body`` for any path on 127.0.0.1; ``short`` closes after half of it."""

    def __init__(self, body: bytes, short: bool = False) -> None:
        body_, short_ = body, short

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Length", str(len(body_)))
                self.end_headers()
                self.wfile.write(body_[: len(body_) // 2] if short_ else body_)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/release"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("case", ["whole", "interrupted", "not a checkpoint"])
def test_download_from_a_local_server_is_atomic_and_checked(tmp_path, monkeypatch, case):
    good = _checkpoint(tmp_path).read_bytes()
    body = b"\0garbage" * 1000 if case == "not a checkpoint" else good
    server = _Server(body, short=case == "interrupted")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DRIVING_TRACKER_WEIGHTS", raising=False)
    monkeypatch.setenv("DRIVING_TRACKER_WEIGHTS_URL", server.url)
    cache = tmp_path / "xdg" / "driving-tracker"
    try:
        if case == "whole":
            path = wt.find_weights("nano")
            assert path == cache / "yolox_nano.pth" and path.read_bytes() == good
            assert isinstance(wt.load_network("nano", path), YOLOX)
        else:
            with pytest.raises((wt.WeightsNotFoundError, ValueError)):
                wt.find_weights("nano")
            assert list(cache.iterdir()) == []  # nothing kept, no partial file
    finally:
        server.close()


def test_tiles_cover_the_band_with_overlap():
    views = tile_views(374, 1242, 256, 0.2, (0.0, 1.0))
    xs = sorted({v.x0 for v in views})
    assert xs[0] == 0 and xs[-1] + 256 == 1242
    assert all(b - a <= 256 * 0.8 + 1 for a, b in zip(xs, xs[1:], strict=False))  # overlap kept
    assert {v.y0 for v in views} == {0, 374 - 256}
    inner = [v for v in views if v.x0 == 0 and v.y0 == 0][0].inner
    assert inner == (False, False, True, True)
    band = band_view(720, 1280, (0.4, 0.7), 1920)
    assert (band.y0, band.height, band.canvas_hw) == (288, 216, (352, 1920))
    assert tile_views(300, 400, 416, 0.2) == []  # one tile would be the whole frame


class _FakeNet(torch.nn.Module):
    """Puts one car on the canvas where a drawn white square is, like a detector would."""

    def forward(self, x):
        out = []
        for image in x:
            h, w = image.shape[1:]
            cells = []
            for stride in (8, 16, 32):
                grid = torch.zeros(h // stride, w // stride, 85)
                cells.append(grid)
            ys, xs = torch.nonzero(image[0] > 250, as_tuple=True)
            if len(xs):
                x1, x2, y1, y2 = xs.min().item(), xs.max().item() + 1, ys.min().item(), ys.max().item() + 1
                cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
                g = cells[0]
                gx, gy = int(cx // 8), int(cy // 8)
                g[gy, gx, :4] = torch.tensor([cx / 8 - gx, cy / 8 - gy, np.log(bw / 8), np.log(bh / 8)])
                g[gy, gx, 4], g[gy, gx, 5 + 2] = 1.0, 0.9
            out.append(torch.cat([c.reshape(-1, 85) for c in cells]))
        return torch.stack(out)


@needs_onnx
def test_a_car_seen_by_the_whole_frame_and_two_tiles_comes_out_once():
    det = YoloxDetector(
        "nano", _settings(weights=str(ONNX), input_size=0, tile_size=256, tile_overlap=0.25, runtime="torch")
    )
    det.model = _FakeNet()
    image = np.zeros((256, 640, 3), np.uint8)
    image[100:140, 180:260] = 255  # straddles the border of the first two tiles
    views = det.views(256, 640)
    assert len(views) >= 3
    found = det.detect([Frame(0, 0.0, image)])[0]
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], [180, 100, 260, 140], atol=1.0)


@needs_onnx
@pytest.mark.parametrize("cross_class_iou, expected", [(0.7, 1), (1.0, 2)])
def test_one_vehicle_found_as_car_and_truck_comes_out_once(cross_class_iou, expected):
    det = YoloxDetector(
        "nano", _settings(weights=str(ONNX), cross_class_iou=cross_class_iou, runtime="torch")
    )
    part = (
        np.array([[100, 100, 200, 160], [102, 101, 201, 162]], float),
        np.array([0.8, 0.6]),
        np.array([2, 7]),  # car, truck
        np.array([False, False]),
    )
    found = det._merge([part], (400, 600))
    assert len(found) == expected and found.class_id[0] == 2


def test_random_weights_need_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIVING_TRACKER_WEIGHTS", str(tmp_path))  # nothing there
    monkeypatch.setenv("DRIVING_TRACKER_WEIGHTS_URL", "http://127.0.0.1:9")
    det = YoloxDetector("tiny", _settings(kind="yolox-tiny", weights="none", runtime="torch"))
    assert det.weights_path is None
    found = det.detect([Frame(0, 0.0, np.zeros((96, 160, 3), np.uint8))])[0]
    assert found.xyxy.shape[1] == 4
