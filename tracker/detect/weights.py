"""Finding, downloading and loading YOLOX weights.

For a named model (``yolox-nano`` ... ``yolox-x``) the weights come from, in this order:

1. ``--weights FILE`` (a ``.pth`` checkpoint or a ``.onnx`` export);
2. the folder named by ``$DRIVING_TRACKER_WEIGHTS``, under the release file names
   (``yolox_nano.pth``, then ``yolox_nano.onnx``; likewise for the other sizes);
3. the user cache, ``$XDG_CACHE_HOME/driving-tracker`` (``~/.cache/driving-tracker``);
4. a download of the official checkpoint from the YOLOX release (tag 0.1.1rc0) into that
   cache, with a progress bar, written under a temporary name and kept only once a strict load
   has accepted it. ``$DRIVING_TRACKER_WEIGHTS_URL`` replaces the release's base URL (mirrors,
   tests).

Checkpoints load with a strict ``load_state_dict`` of their ``model`` entry, so a wrong file
fails with one line; ONNX exports (batch norm folded into the convolutions) load into the fused
network, convolution by convolution in execution order, each shape checked.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .yolox_net import YOLOX

log = logging.getLogger(__name__)

RELEASE_URL = "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0"
ENV_FOLDER = "DRIVING_TRACKER_WEIGHTS"
ENV_URL = "DRIVING_TRACKER_WEIGHTS_URL"


class WeightsNotFoundError(FileNotFoundError):
    """No weights anywhere they are looked for, and none could be downloaded."""


def release_name(size: str) -> str:
    return f"yolox_{size}"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "driving-tracker"


def download_url(size: str) -> str:
    return f"{os.environ.get(ENV_URL, RELEASE_URL).rstrip('/')}/{release_name(size)}.pth"


def find_weights(size: str, weights: str | Path | None = None, download: bool = True) -> Path:
    """The weights file for YOLOX-``size`` (see the module docstring for the order)."""
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        return path
    folders = [Path(os.environ[ENV_FOLDER]).expanduser()] if os.environ.get(ENV_FOLDER) else []
    folders.append(cache_dir())
    for folder in folders:
        for ext in (".pth", ".onnx"):
            path = folder / (release_name(size) + ext)
            if path.is_file():
                return path
    if not download:
        raise WeightsNotFoundError(_not_found(size, "downloads are off"))
    return fetch_checkpoint(size)


def _not_found(size: str, why: str) -> str:
    name = release_name(size) + ".pth"
    where = f"${ENV_FOLDER}" + (f" ({os.environ[ENV_FOLDER]})" if os.environ.get(ENV_FOLDER) else "")
    return (
        f"YOLOX-{size} weights {name} not found and not downloaded ({why}); get {download_url(size)} "
        f"and put it in {cache_dir()} or in the folder named by {where}, or pass --weights FILE"
    )


def fetch_checkpoint(size: str, timeout_s: float = 30.0) -> Path:
    """Download the release checkpoint of YOLOX-``size`` into the cache; atomic and checked."""
    url, target = download_url(size), cache_dir() / (release_name(size) + ".pth")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_url(url, out, timeout_s)
        load_network(size, tmp)  # a strict load: a truncated or wrong file never reaches the cache
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        tmp.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise WeightsNotFoundError(_not_found(size, f"download failed: {str(reason)[:120]}")) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("downloaded %s to %s", url, target)
    return target


def _copy_url(url: str, out, timeout_s: float) -> None:
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=url.rsplit("/", 1)[-1],
            disable=not sys.stderr.isatty(),
        ) as bar:
            received = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if total is not None and received != total:
            raise OSError(f"connection closed after {received} of {total} bytes")


def load_network(size: str, path: str | Path) -> YOLOX:
    """YOLOX-``size`` with the weights of ``path`` (``.onnx`` export or ``.pth`` checkpoint),
    batch norm folded, in eval mode; ``ValueError`` naming the file if they do not fit."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return _from_onnx(size, path)
    import torch

    net = YOLOX(size)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors of every kind: not a checkpoint
        raise ValueError(f"{path}: not a torch checkpoint ({str(exc).splitlines()[0][:160]})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a YOLOX checkpoint (no state dict inside)")
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        what = f"missing key {missing[0]}" if missing else f"unexpected key {extra[0]}"
        raise ValueError(
            f"{path}: not a YOLOX-{size} checkpoint ({what}; {len(missing)} missing, {len(extra)} unexpected)"
        )
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # shape mismatches: a checkpoint of another size
        line = next((s.strip() for s in str(exc).splitlines() if "size mismatch" in s), str(exc)[:160])
        raise ValueError(f"{path}: not a YOLOX-{size} checkpoint ({line[:200]})") from None
    return net.eval().fuse()


def _from_onnx(size: str, path: Path) -> YOLOX:
    import onnx
    import torch
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # protobuf decode errors: not an ONNX file
        raise ValueError(f"{path}: not an ONNX model ({str(exc).splitlines()[0][:160]})") from None
    init = {t.name: t for t in graph.initializer}
    nodes = [n for n in graph.node if n.op_type == "Conv"]
    net = YOLOX(size).eval().fuse()
    convs = _convs_in_execution_order(net)
    if len(nodes) != len(convs):
        raise ValueError(
            f"{path}: not a YOLOX-{size} export ({len(nodes)} convolutions, YOLOX-{size} has {len(convs)})"
        )
    with torch.no_grad():
        for i, (node, conv) in enumerate(zip(nodes, convs, strict=True)):
            arrays = [numpy_helper.to_array(init[name]) if name in init else None for name in node.input[1:3]]
            weight, bias = (arrays + [None])[:2]
            if weight is None or bias is None or tuple(weight.shape) != tuple(conv.weight.shape):
                got = None if weight is None else tuple(weight.shape)
                raise ValueError(
                    f"{path}: not a YOLOX-{size} export (convolution {i}: weight {got}, "
                    f"expected {tuple(conv.weight.shape)})"
                )
            conv.weight.copy_(torch.from_numpy(weight.copy()))
            conv.bias.copy_(torch.from_numpy(bias.copy()))
    return net


def _convs_in_execution_order(net: YOLOX) -> list:
    import torch

    order: list[torch.nn.Conv2d] = []
    hooks = [
        m.register_forward_hook(lambda module, _inputs, _output: order.append(module))
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, 64, 64))
    finally:
        for hook in hooks:
            hook.remove()
    return order
