"""End-to-end accuracy on synthetic videos: built-in detector + tracker, TrackEval HOTA (MOT).

    python benchmarks/synthetic_hota.py [--seeds 0-7] [--frames 150] [--detector builtin]
        [--generator own|alt|pale] [--json FILE]

Videos come from the project's generator with seeds below the training seeds of the built-in
detector (training starts at 10000), with frame size and rate varying by seed; ``--generator alt``
takes them from ``benchmarks/alt_generator.py`` instead, a second generator to the same spec that
the detector never trained on; ``--generator pale`` is that generator's pale mode (pale colours,
touching same-hue pairs). For scale it also reports the tracker on the ground-truth boxes (a
perfect detector).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.config import load_config  # noqa: E402
from tracker.eval.synthetic import SynthConfig, write_synthetic  # noqa: E402
from tracker.eval.video import VIDEO_CLASS, evaluate_videos  # noqa: E402

SIZES = ((320, 240), (640, 360), (960, 540), (1280, 720), (480, 272))


def seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def make_videos(
    folder: Path, seed_list: list[int], frames: int, generator: str = "own"
) -> list[tuple[Path, Path]]:
    pairs = []
    for seed in seed_list:
        if generator in ("alt", "pale"):
            from alt_generator import generate

            video, gt = folder / f"{generator}-{seed:03d}.mp4", folder / f"{generator}-{seed:03d}_gt.txt"
            generate(video, gt, seed, frames, "pale" if generator == "pale" else "standard")
            pairs.append((video, gt))
            continue
        width, height = SIZES[seed % len(SIZES)]
        fps = (10.0, 15.0, 25.0, 30.0)[seed % 4]
        config = SynthConfig(
            width=width, height=height, fps=fps, num_frames=frames, max_objects=4 + seed % 6, seed=seed
        )
        video, gt = folder / f"synth-{seed:03d}.mp4", folder / f"synth-{seed:03d}_gt.txt"
        write_synthetic(config, video, gt)
        pairs.append((video, gt))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds, default=seeds("0-7"))
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--detector", default="builtin")
    parser.add_argument("--generator", choices=("own", "alt", "pale"), default="own")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pairs = make_videos(tmp, args.seeds, args.frames, args.generator)
        report = {"generator": args.generator}
        for name, spec in (("pipeline", args.detector), ("ground_truth_boxes", None)):
            runs = []
            for video, gt in pairs:
                kind = spec if spec else f"file:{gt}"
                config = load_config(args.config, [f"detector.kind={kind}"])
                metrics, summaries = evaluate_videos([(video, gt)], config, tmp / name)
                runs.append((video.stem, metrics["COMBINED"][VIDEO_CLASS], summaries[0].fps))
            combined = _combine(tmp, pairs, name)
            report[name] = {
                "HOTA": combined.HOTA,
                "DetA": combined.DetA,
                "AssA": combined.AssA,
                "MOTA": combined.MOTA,
                "IDF1": combined.IDF1,
                "IDSW": combined.IDSW,
                "per_video": {v: round(m.HOTA, 2) for v, m, _ in runs},
            }
            c = combined
            print(
                f"{name:20s} HOTA {c.HOTA:6.2f}  DetA {c.DetA:6.2f}  AssA {c.AssA:6.2f}  "
                f"MOTA {c.MOTA:6.2f}  IDF1 {c.IDF1:6.2f}  IDSW {c.IDSW}"
            )
            for v, m, fps in runs:
                print(f"    {v}: HOTA {m.HOTA:6.2f} ({fps:.1f} frames/s)")
    if args.json:
        args.json.write_text(json.dumps({"seeds": args.seeds, **report}, indent=2) + "\n")


def _combine(tmp: Path, pairs, name: str):
    from tracker.eval.metrics import evaluate_mot
    from tracker.formats import read_mot

    gt_files = {v.stem: g for v, g in pairs}
    lengths = [(v.stem, int(read_mot(g, "gt").frame.max()) + 1) for v, g in pairs]
    return evaluate_mot(gt_files, tmp / name, lengths)["COMBINED"]["pedestrian"]


if __name__ == "__main__":
    main()
