"""The coarse model of Qayyum et al. (2023): a 2D dense encoder and a plain decoder.

Encoder (paper §2.2): a 3 × 3 stem convolution at full resolution, then five dense blocks of
six dense layers each. A dense layer is BN-ReLU-1 × 1 conv (to ``bn_size × growth_rate``
channels, the DenseNet-B bottleneck) followed by BN-ReLU-3 × 3 conv (``growth_rate``
channels); its output is concatenated to its input. Each block is followed by a transition:
BN, ReLU, 1 × 1 conv (compression 0.5, DenseNet-BC) and 2 × 2 average pooling. The paper lists
"BN, 1 × 1 conv, 2 × 2 average pooling"; the ReLU is the original DenseNet transition's
(Huang et al. 2017), without it BN and the 1 × 1 conv would be two consecutive linear maps.
The growth rate (32) and bottleneck width (4k) are not given in the paper; they are
DenseNet-121's values.

Decoder (non-dense): five stages, each a ×2 bilinear upsampling, concatenation with the
output of the dense block at that resolution (skip connection) and two 3 × 3 conv-BN-ReLU
layers, ending at the input resolution with a 1 × 1 convolution to one logit per pixel.
With five poolings the input height and width must be divisible by 32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ichbench.harness.config import check_ranges, shown


@dataclass(frozen=True)
class DenseNetConfig:
    """Architecture of :class:`DenseNet2D`.

    Attributes
    ----------
    in_channels
        Input channels (1: the windowed CT slice).
    growth_rate
        Channels each dense layer adds (k).
    bn_size
        Bottleneck width of the 1 × 1 conv, in multiples of ``growth_rate``.
    block_layers
        Dense layers per block; the paper has five blocks of six.
    init_features
        Channels of the stem convolution.
    compression
        Channel fraction kept by a transition (θ of DenseNet-BC).
    decoder_channels
        Output channels of the decoder stages, deepest first (one per block).
    output_prior
        Initial foreground probability of every pixel: the output bias starts at its
        log-odds (the prior initialisation of Lin et al. 2017, RetinaNet). ICH is about
        1 % of a head's voxels; with a zero bias the first hundreds of steps only learn
        "background", which a CPU run cannot afford. ``None`` keeps PyTorch's init.
    """

    in_channels: int = 1
    growth_rate: int = 32
    bn_size: int = 4
    block_layers: tuple[int, ...] = (6, 6, 6, 6, 6)
    init_features: int = 64
    compression: float = 0.5
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 32)
    output_prior: float | None = 0.01

    def __post_init__(self) -> None:
        if len(self.decoder_channels) != len(self.block_layers):
            raise ValueError(f"decoder_channels {shown(self.decoder_channels)} needs one entry per "
                             f"dense block ({len(self.block_layers)})")
        if self.output_prior is not None and not 0 < self.output_prior < 1:
            raise ValueError(f"output_prior {self.output_prior}: expected a probability in "
                             "(0, 1) or None")
        if not 0 < self.compression <= 1:
            raise ValueError(f"compression {self.compression}: expected a value in (0, 1]")
        if not 1 <= len(self.block_layers) <= 8:  # 2 ** 8 = 256: the grid's divisor
            raise ValueError(f"model.block_layers has {len(self.block_layers)} blocks: "
                             "expected 1 to 8")
        check_ranges("model.", [  # sizes a machine could hold (issue 23)
            ("in_channels", self.in_channels, 1, 16), ("growth_rate", self.growth_rate, 1, 1024),
            ("bn_size", self.bn_size, 1, 64), ("block_layers", self.block_layers, 1, 128),
            ("init_features", self.init_features, 1, 4096),
            ("decoder_channels", self.decoder_channels, 1, 4096),
        ])

    @property
    def downsampling(self) -> int:
        """Factor by which the input size must be divisible (2 ** number of blocks)."""
        return 2 ** len(self.block_layers)


class _DenseLayer(nn.Module):
    def __init__(self, in_channels: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        width = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, growth_rate, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return torch.cat([x, out], dim=1)


class _Transition(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                         nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                         nn.AvgPool2d(kernel_size=2, stride=2))


class _DecoderStage(nn.Module):
    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(in_channels + skip_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.convs(torch.cat([x, skip], dim=1))


class DenseNet2D(nn.Module):
    """Dense encoder, plain decoder, one output logit per pixel.

    Input ``(batch, in_channels, H, W)`` with H and W divisible by
    ``config.downsampling``; output ``(batch, 1, H, W)`` logits.
    """

    def __init__(self, config: DenseNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DenseNetConfig()
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, config.init_features, 3, padding=1, bias=False),
            nn.BatchNorm2d(config.init_features), nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        skip_channels: list[int] = []
        channels = config.init_features
        for n_layers in config.block_layers:
            layers = []
            for _ in range(n_layers):
                layers.append(_DenseLayer(channels, config.growth_rate, config.bn_size))
                channels += config.growth_rate
            self.blocks.append(nn.Sequential(*layers))
            skip_channels.append(channels)
            reduced = int(channels * config.compression)
            self.transitions.append(_Transition(channels, reduced))
            channels = reduced
        self.decoder = nn.ModuleList()
        for skip, out in zip(reversed(skip_channels), config.decoder_channels, strict=True):
            self.decoder.append(_DecoderStage(channels, skip, out))
            channels = out
        self.head = nn.Conv2d(channels, 1, kernel_size=1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.head.weight, std=0.01)
        if config.output_prior is not None:
            p = config.output_prior
            nn.init.constant_(self.head.bias, math.log(p / (1 - p)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, 1, H, W)`` for slices ``(batch, in_channels, H, W)``."""
        factor = self.config.downsampling
        if (x.ndim != 4 or x.shape[1] != self.config.in_channels or x.shape[-1] % factor
                or x.shape[-2] % factor):
            raise ValueError(f"input of shape {tuple(x.shape)}: expected (batch, "
                             f"{self.config.in_channels}, H, W) with H and W divisible by "
                             f"{factor}")
        x = self.stem(x)
        skips = []
        for block, transition in zip(self.blocks, self.transitions, strict=True):
            x = block(x)
            skips.append(x)
            x = transition(x)
        for stage, skip in zip(self.decoder, reversed(skips), strict=True):
            x = stage(x, skip)
        return self.head(x)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
