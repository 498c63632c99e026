from typing import List, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.nn import Activation

from seal.modules.structured_scores.structured_score import StructuredScore


@StructuredScore.register("mask-conv")
class MaskConvScore(StructuredScore):
    """A convolutional score of a whole (relaxed) binary mask, optionally conditioned on the
    image, after the segmentation energy of deep value networks (Gygli et al., 2017): convolutions
    over the mask stacked on the image's channels, average pooling to a fixed grid, then fully
    connected layers to a scalar,

        `score(y) = mlp(pool(conv_k(... conv_1([features; y]))))`.

    Unlike a sum of per-pixel terms it can score shape: whether the foreground is one smooth blob,
    and whether its outline follows the image's edges.

    Shapes: `y` `(batch, num_samples, height, width)` with entries in [0, 1], `features` `(batch,
    feature_dim, height, width)` (the score-net's `TaskOutput.features`, e.g. a `unet`'s image or
    decoder map; required iff `feature_dim` is set), `mask` must be `None` (masks have no
    padding); returns `(batch, num_samples)`.  The samples are flattened into the batch.  Any
    `height, width >= 1` (the pooling grid adapts).  Differentiable in `y`, `features` and the
    parameters; with the default smooth activation (softplus) its gradient in `y` is continuous,
    which gradient-based inference needs.

    # Parameters
    feature_dim : `int`, optional
        Channels of the features; `None` scores the mask alone.
    channels : `List[int]`, optional (default = `[64, 128, 128]`)
        Output channels of each convolution.
    strides : `List[int]`, optional (default = `[1, 2, 2]`)
        Stride of each convolution (one per entry of `channels`).
    kernel_size : `int`, optional (default = `5`)
        Odd; convolutions are padded to keep the size at stride 1.
    pool_size : `int`, optional (default = `4`)
        The last convolution's map is average-pooled to `pool_size x pool_size`.
    hidden_dims : `List[int]`, optional (default = `[384, 192]`)
        Fully connected layers before the scalar output.
    activation : `Activation`, optional (default = `softplus`)
    """

    def __init__(
        self,
        feature_dim: Optional[int] = None,
        channels: List[int] = (64, 128, 128),
        strides: Optional[List[int]] = None,
        kernel_size: int = 5,
        pool_size: int = 4,
        hidden_dims: List[int] = (384, 192),
        activation: Activation = None,
    ) -> None:
        super().__init__()
        channels = list(channels)
        strides = [1] + [2] * (len(channels) - 1) if strides is None else list(strides)
        if not channels or len(strides) != len(channels) or min(channels + strides) < 1:
            raise ConfigurationError(f"mask-conv needs positive channels and one positive stride per "
                                     f"convolution, got channels={channels}, strides={strides}")
        if kernel_size < 1 or kernel_size % 2 == 0 or pool_size < 1:
            raise ConfigurationError(f"mask-conv needs an odd kernel_size and pool_size >= 1, got "
                                     f"kernel_size={kernel_size}, pool_size={pool_size}")
        self.feature_dim = feature_dim
        self.activation = activation or torch.nn.Softplus()
        inputs = [1 + (feature_dim or 0)] + channels[:-1]
        self.convolutions = torch.nn.ModuleList(
            torch.nn.Conv2d(n_in, n_out, kernel_size, stride=stride, padding=kernel_size // 2)
            for n_in, n_out, stride in zip(inputs, channels, strides)
        )
        self.pool = torch.nn.AdaptiveAvgPool2d(pool_size)
        sizes = [channels[-1] * pool_size**2] + list(hidden_dims)
        self.hidden = torch.nn.ModuleList(torch.nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes, sizes[1:]))
        self.output = torch.nn.Linear(sizes[-1], 1)

    def forward(self, y, mask=None, features=None):
        if y.dim() != 4:
            raise ConfigurationError(f"mask-conv expects y of shape (batch, num_samples, height, width), "
                                     f"got {tuple(y.shape)}")
        if mask is not None:
            raise ConfigurationError("mask-conv scores whole masks: it takes no padding mask")
        batch_size, num_samples, height, width = y.shape
        hidden = y.reshape(batch_size * num_samples, 1, height, width)
        if self.feature_dim is not None:
            expected = (batch_size, self.feature_dim, height, width)
            if features is None or tuple(features.shape) != expected:
                found = None if features is None else tuple(features.shape)
                raise ConfigurationError(f"mask-conv with feature_dim {self.feature_dim} expects features of "
                                         f"shape (batch, feature_dim, height, width) = {expected}, got {found}")
            features = features.to(y.dtype).unsqueeze(1).expand(-1, num_samples, -1, -1, -1)
            hidden = torch.cat([features.reshape(batch_size * num_samples, -1, height, width), hidden], dim=1)
        for convolution in self.convolutions:
            hidden = self.activation(convolution(hidden))
        hidden = self.pool(hidden).flatten(1)
        for layer in self.hidden:
            hidden = self.activation(layer(hidden))
        return self.output(hidden).reshape(batch_size, num_samples)
