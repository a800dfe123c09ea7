"""``track detect``: detections only, written as .jsonl or MOT .txt, read back by file:PATH;
and ``--device cuda`` without CUDA refused for every detector. Run as the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tracker.detect import make_detector
from tracker.detect.files import FileDetector
from tracker.source import open_source

ROOT = Path(__file__).resolve().parents[1]
ONNX = ROOT.parent / "shared" / "models" / "yolox_nano.onnx"


def track(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.mark.parametrize("suffix", [".jsonl", ".txt"])
def test_detections_written_once_read_back_the_same(clip, tmp_path, suffix):
    video, _ = clip
    out = tmp_path / f"dets{suffix}"
    result = track("detect", video, "--detector", "builtin", "--out", out)
    assert result.returncode == 0, result.stderr
    assert not list(tmp_path.glob(".*.part"))
    expected = make_detector("builtin", "cpu").detect(list(open_source(video)))
    frames = list(open_source(video))
    back = FileDetector(out).detect(frames)
    assert len(back) == len(expected) == 40
    for got, want in zip(back, expected, strict=True):
        assert len(got) == len(want)
        np.testing.assert_allclose(got.xyxy, want.xyxy, atol=0.011)
        np.testing.assert_allclose(got.score, want.score, atol=1e-4)
    if suffix == ".jsonl":
        first = json.loads(out.read_text().splitlines()[0])
        assert set(first) == {"frame", "time_s", "class", "score", "xyxy"} and first["class"] == "box"
        assert FileDetector(out).class_names == ("box",)
    else:
        assert FileDetector(out).class_names == ("object",)
    # and tracked from the file like any detector
    tracks = tmp_path / "t.jsonl"
    again = track(video, "--detector", f"file:{out}", "--no-video", "--tracks-out", tracks)
    assert again.returncode == 0, again.stderr
    assert tracks.read_text().strip()


def test_an_image_folder_is_read_in_sorted_name_order(clip, tmp_path):
    video, _ = clip
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = list(open_source(video))[:5]
    for f in frames:  # names whose creation order is not their sorted order
        cv2.imwrite(str(folder / f"img_{4 - f.index}.png"), f.image)
    out = tmp_path / "d.jsonl"
    result = track("detect", folder, "--fps", "10", "--detector", "builtin", "--out", out)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    by_frame = {r["frame"]: r["time_s"] for r in records}
    assert set(by_frame) <= set(range(5)) and all(by_frame[k] == pytest.approx(k / 10) for k in by_frame)
    # frame 0 is img_0.png, i.e. the clip's frame 4
    want = make_detector("builtin", "cpu").detect([frames[4]])[0]
    got = [r["xyxy"] for r in records if r["frame"] == 0]
    np.testing.assert_allclose(np.array(got).reshape(-1, 4), want.xyxy, atol=0.011)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--out", "{tmp}/d.csv"], "detection files are .jsonl"),
        (["--out", "{tmp}/missing/d.jsonl"], "does not exist"),
        (["--out", "{video}", "--overwrite"], "detection files are .jsonl"),  # never the input video
    ],
)
def test_bad_outputs_are_one_line_and_nothing_is_written(clip, tmp_path, args, words):
    video, _ = clip
    copy = tmp_path / "in.mp4"
    copy.write_bytes(Path(video).read_bytes())
    before = copy.read_bytes()
    args = [a.format(tmp=tmp_path, video=copy) for a in args]
    result = track("detect", copy, "--detector", "builtin", *args)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert copy.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("spec", ["yolox-nano", "builtin", "onnx", "file"])
def test_device_cuda_without_cuda_is_one_line_for_every_detector(clip, tmp_path, spec):
    video, gt = clip
    if spec == "onnx":
        if not ONNX.is_file():
            pytest.skip("needs ../shared/models/yolox_nano.onnx")
        spec = f"onnx:{ONNX}"
    elif spec == "file":
        spec = f"file:{gt}"
    result = track(video, "--detector", spec, "--device", "cuda", "--out", tmp_path / "o.mp4")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("error:") and "cuda" in result.stderr.lower()
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


def test_an_existing_detection_file_is_kept_without_overwrite(clip, tmp_path):
    video, _ = clip
    out = tmp_path / "d.jsonl"
    out.write_text("mine\n")
    result = track("detect", video, "--detector", "builtin", "--out", out)
    assert result.returncode == 2 and "exists" in result.stderr
    assert out.read_text() == "mine\n"
