from typing import List

import torch
import torch.nn.functional as F
from allennlp.common.checks import ConfigurationError

from seal.modules.task_nets.task_nn import TaskNN, TaskOutput

FEATURES = ("decoder", "image", "image+decoder")


class _ConvBlock(torch.nn.Sequential):
    """Two 3x3 convolutions (same size), each followed by optional batch norm and a ReLU."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool) -> None:
        layers: List[torch.nn.Module] = []
        for channels in (in_channels, out_channels):
            layers.append(torch.nn.Conv2d(channels, out_channels, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(torch.nn.BatchNorm2d(out_channels))
            layers.append(torch.nn.ReLU())
        super().__init__(*layers)


@TaskNN.register("unet")
class UNetTaskNN(TaskNN):
    """A small U-Net (Ronneberger et al., 2015): a fully convolutional net giving a foreground
    logit per pixel, for binary segmentation (`binary-mask` output space).

    The encoder has `depth + 1` levels of two 3x3 convolutions, `channels * 2**level` channels at
    level `level`, each level but the last followed by 2x2 max pooling (rounding up, so any size
    works); the decoder upsamples (bilinear, to the size of the matching encoder level, so odd sizes
    come back exactly), concatenates that level's encoder map (the skip connection) and applies two
    3x3 convolutions; a 1x1 convolution gives the logits.

    Input field `image`: `(batch, in_channels, height, width)` float (the readers give RGB in
    [0, 1]), any `height, width >= 1`.  Output logits `(batch, height, width)`, no mask.
    `features` (what a conditioned structured score reads, e.g. `mask-conv`) is `(batch,
    feature_dim, height, width)`: the last decoder map (`"decoder"`, `channels` channels), the
    image itself (`"image"`, `in_channels`: DVN's energy over image and mask) or both concatenated
    (`"image+decoder"`, image first).

    # Parameters
    channels : `int`, optional (default = `16`)
        Channels of the first level (and of the last decoder map).
    depth : `int`, optional (default = `2`)
        Number of down- (and up-) sampling steps; 0 is a plain fully convolutional net.
    in_channels : `int`, optional (default = `3`)
    batch_norm : `bool`, optional (default = `True`)
    dropout : `float`, optional (default = `0.0`)
        Channel dropout (`Dropout2d`) on the bottleneck and before the output layer.
    features : `str`, optional (default = `"decoder"`)
        `"decoder"`, `"image"` or `"image+decoder"`, see above.
    """

    def __init__(
        self,
        channels: int = 16,
        depth: int = 2,
        in_channels: int = 3,
        batch_norm: bool = True,
        dropout: float = 0.0,
        features: str = "decoder",
    ) -> None:
        super().__init__()
        if channels < 1 or depth < 0 or in_channels < 1:
            raise ConfigurationError(f"unet needs channels >= 1, depth >= 0 and in_channels >= 1, got "
                                     f"channels={channels}, depth={depth}, in_channels={in_channels}")
        if features not in FEATURES:
            raise ConfigurationError(f"unet features must be one of {list(FEATURES)}, got {features!r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigurationError(f"unet dropout must lie in [0, 1), got {dropout}")
        widths = [channels * 2**level for level in range(depth + 1)]
        self.in_channels = in_channels
        self.features = features
        self.encoder = torch.nn.ModuleList(
            _ConvBlock(width_in, width, batch_norm) for width_in, width in zip([in_channels] + widths, widths)
        )
        # decoder[i] goes from level i + 1 up to level i: upsampled map and skip, concatenated.
        self.decoder = torch.nn.ModuleList(
            _ConvBlock(widths[level + 1] + widths[level], widths[level], batch_norm) for level in range(depth)
        )
        self.dropout = torch.nn.Dropout2d(dropout)
        self.output = torch.nn.Conv2d(channels, 1, 1)

    def get_feature_dim(self) -> int:
        """The number of channels of `features`."""
        image = self.in_channels if "image" in self.features else 0
        return image + (self.output.in_channels if "decoder" in self.features else 0)

    def forward(self, image: torch.Tensor, **unused) -> TaskOutput:  # type: ignore[override]
        if image.dim() != 4 or image.size(1) != self.in_channels:
            raise ConfigurationError(f"unet expects image of shape (batch, {self.in_channels}, height, width), "
                                     f"got {tuple(image.shape)}")
        skips = []
        hidden = image
        for level, block in enumerate(self.encoder):
            if level > 0:
                hidden = F.max_pool2d(hidden, 2, ceil_mode=True)
            hidden = block(hidden)
            skips.append(hidden)
        hidden = self.dropout(skips.pop())
        for block in reversed(self.decoder):
            skip = skips.pop()
            hidden = F.interpolate(hidden, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            hidden = block(torch.cat([hidden, skip], dim=1))
        logits = self.output(self.dropout(hidden)).squeeze(1)
        return TaskOutput(logits, None, self._features(image, hidden))

    def _features(self, image: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        if self.features == "decoder":
            return decoded
        return image if self.features == "image" else torch.cat([image, decoded], dim=1)
