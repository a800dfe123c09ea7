"""The YOLOX network (Ge et al., 2021) in torch: CSPDarknet backbone, PAFPN neck, decoupled head.

Written for this project from the paper's description; module and attribute names follow the
official checkpoints' state-dict layout (``backbone.backbone.stem.conv.conv.weight``, ...,
``head.obj_preds.2.bias``), so the released ``yolox_*.pth`` files load with a strict
``load_state_dict``. Sizes differ only in depth and width multipliers; nano also uses depthwise
convolutions. The forward pass returns the raw head output the ONNX exports give:
``(batch, anchors, 5 + classes)`` with grid-relative ``cx, cy``, log ``w, h``, and sigmoid
objectness and class scores, anchors ordered stride 8, 16, 32, row-major within each level.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

STRIDES = (8, 16, 32)
BN_EPS = 1e-3  # the YOLOX training recipe's batch-norm epsilon (the checkpoints assume it)


@dataclass(frozen=True)
class YoloxSize:
    depth: float
    width: float
    depthwise: bool
    # The input size the released weights were evaluated at (long side, pixels).
    native_input: int


SIZES = {
    "nano": YoloxSize(0.33, 0.25, True, 416),
    "tiny": YoloxSize(0.33, 0.375, False, 416),
    "s": YoloxSize(0.33, 0.50, False, 640),
    "m": YoloxSize(0.67, 0.75, False, 640),
    "l": YoloxSize(1.0, 1.0, False, 640),
    "x": YoloxSize(1.33, 1.25, False, 640),
}


class BaseConv(nn.Module):
    """Convolution, batch norm, SiLU. ``fuse()`` folds the norm into the convolution."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def fuse(self) -> None:
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        bn, conv = self.bn, self.conv
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
            groups=conv.groups, bias=True,
        )  # fmt: skip
        with torch.no_grad():
            fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
            fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv, self.bn = fused, nn.Identity()


class DWConv(nn.Module):
    """Depthwise convolution then pointwise convolution (nano)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1) -> None:
        super().__init__()
        self.dconv = BaseConv(c_in, c_in, k, stride, groups=c_in)
        self.pconv = BaseConv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pconv(self.dconv(x))


def _conv(depthwise: bool):
    return DWConv if depthwise else BaseConv


class Bottleneck(nn.Module):
    def __init__(self, c_in: int, c_out: int, shortcut: bool, depthwise: bool) -> None:
        super().__init__()
        self.conv1 = BaseConv(c_in, c_out, 1)
        self.conv2 = _conv(depthwise)(c_out, c_out, 3)
        self.use_add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return y + x if self.use_add else y


class CSPLayer(nn.Module):
    """Cross-stage partial block: half the channels through ``n`` bottlenecks, half around."""

    def __init__(self, c_in: int, c_out: int, n: int, shortcut: bool = True, depthwise: bool = False) -> None:
        super().__init__()
        hidden = c_out // 2
        self.conv1 = BaseConv(c_in, hidden, 1)
        self.conv2 = BaseConv(c_in, hidden, 1)
        self.conv3 = BaseConv(2 * hidden, c_out, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, depthwise) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # conv2 runs before the bottlenecks, as in the exported graphs (whose convolutions are
        # matched to these modules in execution order).
        inner, bypass = self.conv1(x), self.conv2(x)
        return self.conv3(torch.cat((self.m(inner), bypass), dim=1))


class Focus(nn.Module):
    """Space-to-depth (2x2 pixels into channels), then a 3x3 convolution."""

    def __init__(self, c_out: int) -> None:
        super().__init__()
        self.conv = BaseConv(12, c_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), dim=1)
        return self.conv(x)


class SPPBottleneck(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernels: tuple[int, ...] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = c_in // 2
        self.conv1 = BaseConv(c_in, hidden, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernels)
        self.conv2 = BaseConv(hidden * (len(kernels) + 1), c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.m], dim=1))


class CSPDarknet(nn.Module):
    def __init__(self, depth: float, width: float, depthwise: bool) -> None:
        super().__init__()
        c, n = int(width * 64), max(round(depth * 3), 1)
        conv = _conv(depthwise)
        self.stem = Focus(c)
        self.dark2 = nn.Sequential(conv(c, 2 * c, 3, 2), CSPLayer(2 * c, 2 * c, n, depthwise=depthwise))
        self.dark3 = nn.Sequential(
            conv(2 * c, 4 * c, 3, 2), CSPLayer(4 * c, 4 * c, 3 * n, depthwise=depthwise)
        )
        self.dark4 = nn.Sequential(
            conv(4 * c, 8 * c, 3, 2), CSPLayer(8 * c, 8 * c, 3 * n, depthwise=depthwise)
        )
        self.dark5 = nn.Sequential(
            conv(8 * c, 16 * c, 3, 2),
            SPPBottleneck(16 * c, 16 * c),
            CSPLayer(16 * c, 16 * c, n, shortcut=False, depthwise=depthwise),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c3 = self.dark3(self.dark2(self.stem(x)))
        c4 = self.dark4(c3)
        return c3, c4, self.dark5(c4)


class PAFPN(nn.Module):
    """Top-down then bottom-up feature pyramid over the backbone's strides 8, 16, 32."""

    def __init__(self, depth: float, width: float, depthwise: bool) -> None:
        super().__init__()
        c3, c4, c5 = int(256 * width), int(512 * width), int(1024 * width)
        n = round(3 * depth)
        conv = _conv(depthwise)
        self.backbone = CSPDarknet(depth, width, depthwise)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = BaseConv(c5, c4, 1)
        self.C3_p4 = CSPLayer(2 * c4, c4, n, False, depthwise)
        self.reduce_conv1 = BaseConv(c4, c3, 1)
        self.C3_p3 = CSPLayer(2 * c3, c3, n, False, depthwise)
        self.bu_conv2 = conv(c3, c3, 3, 2)
        self.C3_n3 = CSPLayer(2 * c3, c4, n, False, depthwise)
        self.bu_conv1 = conv(c4, c4, 3, 2)
        self.C3_n4 = CSPLayer(2 * c4, c5, n, False, depthwise)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x3, x4, x5 = self.backbone(x)
        top5 = self.lateral_conv0(x5)
        p4 = self.C3_p4(torch.cat((self.upsample(top5), x4), 1))
        top4 = self.reduce_conv1(p4)
        out3 = self.C3_p3(torch.cat((self.upsample(top4), x3), 1))
        out4 = self.C3_n3(torch.cat((self.bu_conv2(out3), top4), 1))
        out5 = self.C3_n4(torch.cat((self.bu_conv1(out4), top5), 1))
        return out3, out4, out5


class YOLOXHead(nn.Module):
    """Decoupled head per level: a 1x1 stem, then two 3x3 branches for class and box/objectness."""

    def __init__(self, num_classes: int, width: float, depthwise: bool) -> None:
        super().__init__()
        hidden = int(256 * width)
        conv = _conv(depthwise)
        self.stems = nn.ModuleList(BaseConv(int(c * width), hidden, 1) for c in (256, 512, 1024))
        self.cls_convs = nn.ModuleList(
            nn.Sequential(conv(hidden, hidden, 3), conv(hidden, hidden, 3)) for _ in STRIDES
        )
        self.reg_convs = nn.ModuleList(
            nn.Sequential(conv(hidden, hidden, 3), conv(hidden, hidden, 3)) for _ in STRIDES
        )
        self.cls_preds = nn.ModuleList(nn.Conv2d(hidden, num_classes, 1) for _ in STRIDES)
        self.reg_preds = nn.ModuleList(nn.Conv2d(hidden, 4, 1) for _ in STRIDES)
        self.obj_preds = nn.ModuleList(nn.Conv2d(hidden, 1, 1) for _ in STRIDES)

    def forward(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        levels = []
        for k, x in enumerate(features):
            x = self.stems[k](x)
            cls = self.cls_preds[k](self.cls_convs[k](x))
            reg_feat = self.reg_convs[k](x)
            reg, obj = self.reg_preds[k](reg_feat), self.obj_preds[k](reg_feat)
            levels.append(torch.cat((reg, obj.sigmoid(), cls.sigmoid()), 1).flatten(2))
        return torch.cat(levels, 2).permute(0, 2, 1)


class YOLOX(nn.Module):
    """The whole network; ``forward(images)`` takes BGR 0..255 float images (B, 3, H, W) with H
    and W multiples of 32 and returns the raw head output (see the module docstring)."""

    def __init__(self, size: str = "nano", num_classes: int = 80) -> None:
        super().__init__()
        if size not in SIZES:
            raise ValueError(f"unknown YOLOX size {size!r}; valid: {', '.join(SIZES)}")
        s = SIZES[size]
        self.size = size
        self.backbone = PAFPN(s.depth, s.width, s.depthwise)
        self.head = YOLOXHead(num_classes, s.width, s.depthwise)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))

    def fuse(self) -> YOLOX:
        """Fold every batch norm into its convolution (inference only; same outputs, faster)."""
        for module in self.modules():
            if isinstance(module, BaseConv):
                module.fuse()
        return self


def anchor_grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per anchor of an input of ``height`` x ``width``: its grid cell ``(x, y)`` and stride."""
    cells, strides = [], []
    for stride in STRIDES:
        ys, xs = torch.meshgrid(torch.arange(height // stride), torch.arange(width // stride), indexing="ij")
        cells.append(torch.stack((xs, ys), -1).reshape(-1, 2))
        strides.append(torch.full((cells[-1].shape[0], 1), stride))
    return torch.cat(cells).float(), torch.cat(strides).float()
