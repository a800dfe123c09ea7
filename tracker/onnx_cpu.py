"""Torch networks handed to onnxruntime for the CPU.

On a CPU onnxruntime runs the project's small networks faster than torch: YOLOX-nano 1.5-1.8x
(its depthwise convolutions), the motion LSTM about 6x for a frame's few tracks (torch's
per-call overhead dominates there). The network is exported in memory with torch's
TorchScript-based exporter, so the weights are the torch module's, whatever file they came
from. A base module: the detector and motion stages both use it.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence


def cpu_session(
    net,
    example: tuple,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
    threads: int = 1,
):
    """An ``onnxruntime.InferenceSession`` on the CPU running ``net`` (a ``torch.nn.Module``
    taking ``example``'s inputs), with ``threads`` threads."""
    import onnxruntime as ort
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, example, buffer, input_names=list(input_names), output_names=list(output_names),
            opset_version=17, dynamo=False, dynamic_axes={k: dict(v) for k, v in dynamic_axes.items()},
        )  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
