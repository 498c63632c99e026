import logging
import os
from typing import Any, List, Optional, Tuple

import numpy as np
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict
from allennlp.data import DatasetReader, Instance
from allennlp.models import Model
from allennlp.predictors import Predictor
from PIL import Image

from seal.predictors.inputs import type_problem
from seal.predictors.seal import SealPredictor, _check_finite, json_object

logger = logging.getLogger(__name__)

OVERLAY_FIELD = "overlay_path"
OVERLAY_MIN_SIDE = 256
TINT = (1.0, 0.0, 0.0)  # red, mixed half and half with the image's foreground pixels
TINT_WEIGHT = 0.5
OUTLINE = (1.0, 1.0, 0.0)  # yellow


@Predictor.register("seal-segmentation")
class SealSegmentationPredictor(SealPredictor):
    """Binary segmentation with a seal model (`binary-mask` output space) over a segmentation
    reader (`segmentation-arrays`, `segmentation-folder`): the `seal` predictor, which `seal`
    becomes for these readers, plus mask overlays.

    Input, one JSON object per line (the reader's `text_to_instance` fields):

    - `{"image_path": "horse.png"}`: an image file (PNG, JPEG, BMP, TIFF, ...; a relative path is
      read from the directory `allennlp predict` runs in), read as RGB, or
    - `{"image": [[[r, g, b], ...], ...]}`: the image as H x W x 3 nested lists (rows of pixels);
      integers 0-255, or (if any number is not an integer) floats in [0, 1];
    - optionally `"overlay_path": "out.png"`: also write a PNG of the predicted mask over the image
      there (the file's folder must exist; an existing file is replaced), see `mask_overlay`.

    Any image size: the image is resized (bilinear) to the reader's `size`, the `(H, W)` the model
    was trained at, which the archive's config records.  A reader without `size` keeps each image's
    size (a warning says so); give the training size with
    `allennlp predict ... -o '{"dataset_reader.size": [32, 32]}'`.  A gold `labels` key is
    ignored.

    Output: the model's human-readable prediction, `predicted_mask` (H x W nested lists of 0/1, at
    the resized size, rows first) and `foreground_fraction`, the per-pixel foreground
    `probabilities` (H x W), and `overlay_path` when an overlay was written.

    Bad input (a missing or unreadable file, nested lists that are not H x W x 3 numbers, values
    out of range, both or neither of `image` and `image_path`, an `overlay_path` that is not a
    `.png` file in an existing folder) is an error naming the input line and the file, or with
    `on_bad_input: "skip"` an `{"error": ...}` output line, as in the `seal` predictor.
    """

    def __init__(
        self,
        model: Model,
        dataset_reader: DatasetReader,
        frozen: bool = True,
        spacy_language: str = "blank:en",
        on_bad_input: str = "stop",
    ) -> None:
        super().__init__(model, dataset_reader, frozen, spacy_language, on_bad_input)
        if getattr(dataset_reader, "size", None) is None:
            logger.warning(
                "The model's dataset reader has no 'size': images are predicted at their own size, not resized to "
                "the training images' size. Give it with -o '{\"dataset_reader.size\": [HEIGHT, WIDTH]}'."
            )

    def predict(self, image_path: str, overlay_path: Optional[str] = None) -> JsonDict:
        """The prediction of the image file `image_path`, writing its overlay to `overlay_path`."""
        inputs = {"image_path": image_path}
        if overlay_path is not None:
            inputs[OVERLAY_FIELD] = overlay_path
        return self.predict_json(inputs)

    def _prepare(self, item: Any) -> Tuple[Instance, Optional[str]]:
        """(the input's instance, where to write its overlay or None)."""
        inputs = dict(json_object(item))
        overlay_path = inputs.pop(OVERLAY_FIELD, None)
        if overlay_path is not None:
            _check_overlay_path(overlay_path)
        return self._json_to_instance(inputs), overlay_path

    def _predict_prepared(self, prepared: List[Tuple[Instance, Optional[str]]]) -> List[Any]:
        predictions = self.predict_batch_instance([instance for instance, _ in prepared])
        return [(prediction, instance, overlay_path)
                for prediction, (instance, overlay_path) in zip(predictions, prepared)]

    def _finish(self, prediction: Any) -> JsonDict:
        output, instance, overlay_path = prediction
        _check_finite(output)
        if overlay_path is not None:
            image = instance["image"].tensor.permute(1, 2, 0).numpy()
            write_overlay(overlay_path, mask_overlay(image, np.asarray(output["predicted_mask"])))
            output = {**output, OVERLAY_FIELD: overlay_path}
        return output


def mask_overlay(image: np.ndarray, mask: np.ndarray, min_side: int = OVERLAY_MIN_SIDE) -> np.ndarray:
    """A picture of `mask` `(H, W)` (0/1) over `image` `(H, W, 3)` (float RGB in [0, 1]): uint8 RGB
    `(k H, k W, 3)`, each pixel a k x k block with `k = ceil(min_side / min(H, W))` (at least 1), so
    the shorter side is at least `min_side`.  Background pixels are the image's; foreground pixels
    are tinted red (half the pixel, half red), and those within `max(1, k // 4)` 4-neighbour steps
    of a background pixel (the picture's border does not count) are the outline, yellow."""
    if image.shape[:2] != mask.shape or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image and an (H, W) mask, got {image.shape} and {mask.shape}")
    scale = max(1, -(-min_side // max(1, min(mask.shape))))
    pixels = np.kron(np.asarray(image, dtype=np.float64), np.ones((scale, scale, 1)))
    foreground = np.kron(np.asarray(mask) != 0, np.ones((scale, scale), dtype=bool))
    pixels[foreground] = (1 - TINT_WEIGHT) * pixels[foreground] + TINT_WEIGHT * np.array(TINT)
    pixels[foreground & ~_eroded(foreground, max(1, scale // 4))] = OUTLINE
    return np.round(np.clip(pixels, 0.0, 1.0) * 255).astype(np.uint8)


def write_overlay(path: str, picture: np.ndarray) -> None:
    """Saves the uint8 RGB `picture` as a PNG file at `path`."""
    try:
        Image.fromarray(picture).save(path, format="PNG")
    except OSError as error:
        raise ConfigurationError(f"{path}: cannot write the overlay there ({error})") from None


def _eroded(region: np.ndarray, steps: int) -> np.ndarray:
    """`region` (bool) shrunk by `steps` 4-neighbour steps; outside the array counts as inside."""
    for _ in range(steps):
        padded = np.pad(region, 1, mode="edge")
        region = (region & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return region


def _check_overlay_path(path: Any) -> None:
    problem = type_problem(path, str, OVERLAY_FIELD)
    if problem:
        raise ConfigurationError(problem)
    if not path.lower().endswith(".png"):
        raise ConfigurationError(f"{OVERLAY_FIELD} {path!r}: expected the name of a .png file (the overlay is a PNG)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigurationError(f"{OVERLAY_FIELD} {path!r}: its folder {folder} does not exist")
