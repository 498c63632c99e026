from typing import Any, Dict, List

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.training.metrics import Metric

from seal.metrics import GlobalIoU, MeanIoU, PixelAccuracy
from seal.modules.distributions import Bernoulli
from seal.modules.output_spaces.multilabel import MultiLabelOutputSpace
from seal.modules.output_spaces.output_space import OutputSpace
from seal.modules.task_nets.task_nn import TaskOutput


@OutputSpace.register("binary-mask")
class BinaryMaskOutputSpace(MultiLabelOutputSpace):
    """A binary segmentation mask: `y` has `label_shape == (height, width)`, one independent
    foreground/background decision per pixel, and no padding (`mask` is always `None`).  The image
    size is the data's: nothing here depends on it.

    Relaxed `y` is the per-pixel foreground probability, in the cube [0, 1]^(height x width); the
    task-net's distribution is a Bernoulli per pixel with probability `sigmoid(logits)`
    (`Bernoulli` with two label axes).  Projection, gradient-ascent steps, the uniform output and
    thresholded decoding are those of a label set (`multi-label`), applied to every pixel.

    Gold labels arrive as a `(batch, height, width)` tensor of 0/1 (a `TensorField`); metrics are
    `mean_iou` (foreground IoU per image, averaged), `global_iou` (pooled over the data) and
    `pixel_accuracy`; the human-readable prediction is the thresholded mask as nested lists of 0/1
    (`predicted_mask`, rows first) and its share of foreground pixels (`foreground_fraction`).

    # Parameters
    threshold : `float`, optional (default = `0.5`)
        A pixel is predicted foreground when its probability is at least `threshold`.
    """

    def __init__(self, threshold: float = 0.5) -> None:
        super().__init__(threshold=threshold)

    def distribution(self, task_output: TaskOutput) -> Bernoulli:
        if task_output.transitions is not None:
            raise ConfigurationError("the 'binary-mask' output space reads independent pixels: its task-net "
                                     "must not return transitions")
        if task_output.mask is not None:
            raise ConfigurationError("the 'binary-mask' output space has no padding: its task-net must "
                                     "return mask None")
        return Bernoulli(task_output.logits, label_dims=2)

    def num_decisions(self, mask, labels):
        return torch.full(labels.shape[:1], labels[0].numel(), dtype=labels.dtype, device=labels.device)

    def encode_labels(self, labels: torch.Tensor, mask, num_tags: int) -> torch.Tensor:
        """Gold masks `(batch, height, width)` of 0/1 -> the same as float outputs."""
        if labels.dim() != 3:
            raise ConfigurationError(
                f"binary-mask expects gold masks of shape (batch, height, width), got {tuple(labels.shape)}"
            )
        if bool(((labels != 0) & (labels != 1)).any()):
            raise ConfigurationError(f"binary-mask expects gold masks of 0 and 1, got values "
                                     f"{sorted(set(labels.unique().tolist()))[:5]}")
        return labels.to(torch.get_default_dtype())

    def default_metrics(self, vocab: Vocabulary) -> Dict[str, Metric]:
        return {
            "mean_iou": MeanIoU(self.threshold),
            "global_iou": GlobalIoU(self.threshold),
            "pixel_accuracy": PixelAccuracy(self.threshold),
        }

    def human_readable(self, probabilities, vocab: Vocabulary, mask=None, predictions=None) -> List[Dict[str, Any]]:
        masks = self.decode(probabilities.detach()) if predictions is None else predictions.detach()
        readable = []
        for predicted in masks.cpu():
            readable.append({"predicted_mask": predicted.long().tolist(),
                             "foreground_fraction": round(predicted.float().mean().item(), 6)})
        return readable
