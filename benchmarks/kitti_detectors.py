"""One tracker for any detector: KITTI dev figures with both detection sets (issue 16).

    python benchmarks/kitti_detectors.py [--data ../shared/data/kitti] [--json FILE] [--ablations]

Runs the shipped command forms, exactly as users (and held-out checks) type them:

    track eval DATA --format kitti --detections det_rrc --config configs/kitti_rrc.yaml ...
    track eval DATA --format kitti --detections det_pointrcnn ...          (configs/kitti.yaml)

and prints car and pedestrian HOTA, DetA, AssA, MOTA, IDF1 and id switches next to the best
reference tracker tuned on the same split. ``--ablations`` also runs each config with new
tracks born still (``tracker.lifecycle.birth_velocity_radius=0``), to show what the velocity
prior for new tracks is worth, and with the learned motion models (``tracker.motion.kind=lstm``,
``hybrid``) in place of the Kalman filter's prediction.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACK = [sys.executable, "-m", "tracker.cli"]

# Best reference tracker tuned on the dev split, per detection set (issue 16; PointRCNN: issue 2).
REFERENCE = {
    "det_rrc": {"car": ("BoT-SORT", 79.05), "pedestrian": ("BoT-SORT", 55.06)},
    "det_pointrcnn": {"car": ("BoT-SORT", 70.7), "pedestrian": ("ByteTrack", 41.6)},
}
RUNS = {
    "det_rrc": ["--config", str(ROOT / "configs" / "kitti_rrc.yaml")],
    "det_pointrcnn": [],  # the default for --format kitti: configs/kitti.yaml
}
ABLATIONS = {
    "born still": ["--set", "tracker.lifecycle.birth_velocity_radius=0"],
    # Learned motion (issue 17) in place of the Kalman filter's prediction, same settings.
    "lstm motion": ["--set", "tracker.motion.kind=lstm"],
    "hybrid motion": ["--set", "tracker.motion.kind=hybrid"],
}


def evaluate(data: Path, detections: str, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "metrics.json"
        cmd = [*TRACK, "eval", str(data), "--format", "kitti", "--detections", detections, *extra]
        cmd += ["--results-out", str(Path(tmp) / "results"), "--json", str(out)]
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())["metrics"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kitti")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--ablations", action="store_true")
    args = parser.parse_args()
    if not (args.data / "seqmap.txt").is_file():
        sys.exit(f"KITTI dev split not found at {args.data}")
    report = {}
    print(
        f"{'detections':<15}{'run':<14}{'class':<12}{'HOTA':>7}{'DetA':>7}{'AssA':>7}{'MOTA':>8}"
        f"{'IDF1':>7}{'IDSW':>6}  best reference"
    )
    for detections, extra in RUNS.items():
        runs = {"shipped": extra}
        if args.ablations:
            runs |= {name: extra + more for name, more in ABLATIONS.items()}
        for name, cmd in runs.items():
            metrics = evaluate(args.data, detections, cmd)
            report.setdefault(detections, {})[name] = metrics
            for cls in ("car", "pedestrian"):
                m = metrics[cls]
                ref_name, ref = REFERENCE[detections][cls]
                gap = m["HOTA"] - ref
                print(
                    f"{detections:<15}{name:<14}{cls:<12}{m['HOTA']:7.2f}{m['DetA']:7.2f}{m['AssA']:7.2f}"
                    f"{m['MOTA']:8.2f}{m['IDF1']:7.2f}{m['IDSW']:6d}  {ref_name} {ref:.2f} ({gap:+.2f})"
                )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
