"""The `seal-segmentation` predictor (what `seal` becomes for the segmentation readers) on a tiny
archive of fixtures/configs/horses_tiny_cross_entropy.jsonnet (16x16 images), trained in-process
for one epoch: images given as files or nested lists, resized to the archive's reader size, PNG
overlays, and bad inputs, through the `allennlp predict` command run in-process."""
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
from allennlp.commands import main
from allennlp.commands.predict import _PredictManager
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import Archive, load_archive
from allennlp.predictors import Predictor
from PIL import Image

from seal.data.dataset_readers import SegmentationArraysReader, SegmentationFolderReader
from seal.predictors import SealSegmentationPredictor
from seal.predictors.segmentation import mask_overlay
from tests.util import FIXTURE_CONFIGS, REPO_ROOT, isolated_logging, train_in_process

SEGMENTATION = REPO_ROOT / "fixtures" / "segmentation"
TINY = SEGMENTATION / "tiny.npz"
IMAGE_FILE = SEGMENTATION / "folder" / "images" / "a.png"  # RGB, 20x24 (height x width)
JPEG_FILE = SEGMENTATION / "folder" / "images" / "b.jpg"  # 16x16
SIZE = (16, 16)  # horses_tiny.libsonnet's reader size
OVERLAY_SIDE = 256  # 16x16 upsampled 16 times


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    serialization_dir = tmp_path_factory.mktemp("segmentation_predictor") / "cross_entropy"
    overrides = {"trainer.num_epochs": 1, "evaluate_on_test": False}
    train_in_process(FIXTURE_CONFIGS / "horses_tiny_cross_entropy.jsonnet", serialization_dir, overrides)
    return serialization_dir / "model.tar.gz"


@pytest.fixture(scope="module")
def loaded(archive) -> Archive:
    return load_archive(str(archive))


@pytest.fixture(scope="module")
def predictor(loaded) -> SealSegmentationPredictor:
    return Predictor.from_archive(loaded)


@pytest.fixture(scope="module")
def tiny_images() -> np.ndarray:
    with np.load(TINY) as arrays:
        return arrays["images"][:2]


def allennlp_predict(archive: Path, lines: List[Any], tmp_path: Path, *options: str) -> List[Dict[str, Any]]:
    """The output lines of `allennlp predict ARCHIVE INPUT --include-package seal OPTIONS`, run
    in-process; `lines` are JSON objects or raw strings."""
    inputs, outputs = tmp_path / "inputs.jsonl", tmp_path / "outputs.jsonl"
    inputs.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    argv = ["allennlp", "predict", str(archive), str(inputs), "--output-file", str(outputs), "--silent",
            "--include-package", "seal", *options]
    saved = sys.argv
    sys.argv = argv
    try:
        with isolated_logging():
            main(prog="allennlp")
    finally:
        sys.argv = saved
    return [json.loads(line) for line in outputs.read_text().splitlines()]


def picture(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.mode == "RGB"
        return np.asarray(image)


def model_input(predictor: SealSegmentationPredictor, **inputs: Any) -> np.ndarray:
    """The `(H, W, 3)` float image the model sees for `inputs` (after the reader's resizing)."""
    return predictor._dataset_reader.text_to_instance(**inputs)["image"].tensor.permute(1, 2, 0).numpy()


def test_segmentation_archives_get_this_predictor_by_default(predictor):
    assert Predictor.by_name("seal-segmentation") is SealSegmentationPredictor
    assert type(predictor) is SealSegmentationPredictor
    assert predictor._dataset_reader.size == SIZE


def test_an_image_file_is_read_and_resized_as_the_folder_reader_does(predictor):
    folder = SegmentationFolderReader(size=SIZE).read(str(IMAGE_FILE.parents[1]))
    expected = next(instance for instance in folder if instance["metadata"]["source"] == str(IMAGE_FILE))
    given = predictor._dataset_reader.text_to_instance(image_path=str(IMAGE_FILE))
    assert "labels" not in given.fields and given["metadata"]["source"] == str(IMAGE_FILE)
    assert given["image"].tensor.shape == (3, *SIZE)
    assert given["image"].tensor.equal(expected["image"].tensor)


def test_predict_image_files_and_nested_lists(archive, predictor, tiny_images, tmp_path):
    """A file of another size and nested lists (0-255 integers, 0-1 floats, another size) give a
    0/1 mask of the training size; a file predicts as its pixels given as nested lists."""
    overlay = tmp_path / "a_overlay.png"
    pixels = picture(IMAGE_FILE)
    lines = [
        {"image_path": str(IMAGE_FILE), "overlay_path": str(overlay)},
        {"image": pixels.tolist()},
        {"image": tiny_images[0].tolist(), "labels": "ignored"},
        {"image": (tiny_images[0] / 255.0).tolist()},
        {"image_path": str(JPEG_FILE)},
    ]
    outputs = allennlp_predict(archive, lines, tmp_path, "--batch-size", "2")
    assert len(outputs) == len(lines)
    for output in outputs:
        mask, probabilities = np.array(output["predicted_mask"]), np.array(output["probabilities"])
        assert mask.shape == probabilities.shape == SIZE
        assert np.array_equal(mask, (probabilities >= 0.5).astype(int))
        assert output["foreground_fraction"] == pytest.approx(mask.mean(), abs=1e-6)
    assert outputs[0]["overlay_path"] == str(overlay) and "overlay_path" not in outputs[1]
    assert picture(overlay).shape == (OVERLAY_SIDE, OVERLAY_SIDE, 3)
    np.testing.assert_allclose(outputs[1]["probabilities"], outputs[0]["probabilities"], atol=1e-6)
    np.testing.assert_allclose(outputs[3]["probabilities"], outputs[2]["probabilities"], atol=1e-5)


def test_overlay_tints_the_predicted_foreground(predictor, tmp_path, monkeypatch):
    """With the threshold at the median probability both classes occur: the overlay is the image
    on the background and redder on the foreground, 16 output pixels per input pixel."""
    probabilities = np.array(predictor.predict(str(IMAGE_FILE))["probabilities"])
    monkeypatch.setattr(predictor._model.output_space, "threshold", float(np.median(probabilities)))
    overlay = tmp_path / "overlay.png"
    output = predictor.predict(str(IMAGE_FILE), overlay_path=str(overlay))
    mask = np.array(output["predicted_mask"])
    assert 0 < mask.sum() < mask.size
    drawn = picture(overlay).astype(float)
    scale = OVERLAY_SIDE // SIZE[0]
    foreground = np.kron(mask, np.ones((scale, scale))) == 1
    image = np.kron(model_input(predictor, image_path=str(IMAGE_FILE)), np.ones((scale, scale, 1))) * 255
    assert drawn.shape == image.shape == (OVERLAY_SIDE, OVERLAY_SIDE, 3)
    np.testing.assert_allclose(drawn[~foreground], image[~foreground], atol=0.6)
    assert drawn[..., 0][foreground].mean() > drawn[..., 0][~foreground].mean()
    assert (drawn[..., 0][foreground] >= 127).all()
    assert (drawn[..., 0][foreground] >= image[..., 0][foreground] - 0.6).all()


def test_mask_overlay_of_a_hand_made_mask():
    """Each pixel a k x k block (k = ceil(256 / shorter side)); foreground half red, its edge
    (max(1, k // 4) pixels wide, not along the picture's border) yellow; background unchanged."""
    image = np.full((3, 4, 3), 0.2)
    mask = np.zeros((3, 4), dtype=int)
    mask[:2, :2] = 1
    drawn = mask_overlay(image, mask)
    scale = 86  # ceil(256 / 3)
    assert drawn.shape == (3 * scale, 4 * scale, 3) and drawn.dtype == np.uint8
    grey, tinted, yellow = [51, 51, 51], [153, 26, 26], [255, 255, 0]
    width = scale // 4
    assert (drawn[2 * scale:, :] == grey).all() and (drawn[:, 2 * scale:] == grey).all()
    assert (drawn[: 2 * scale - width, : 2 * scale - width] == tinted).all()
    assert (drawn[2 * scale - width: 2 * scale, : 2 * scale] == yellow).all()  # the edge facing the background
    assert (drawn[: 2 * scale, 2 * scale - width: 2 * scale] == yellow).all()
    assert (mask_overlay(image, np.zeros((3, 4))) == grey).all()
    assert mask_overlay(np.zeros((300, 280, 3)), np.zeros((300, 280))).shape == (300, 280, 3)


def test_reader_without_size_keeps_the_image_size(predictor, caplog):
    unsized = SealSegmentationPredictor(predictor._model, SegmentationArraysReader())
    assert "has no 'size'" in caplog.text
    assert np.array(unsized.predict(str(IMAGE_FILE))["predicted_mask"]).shape == (20, 24)


def test_the_size_can_be_overridden_like_any_reader_setting(archive, tmp_path):
    outputs = allennlp_predict(archive, [{"image_path": str(IMAGE_FILE)}], tmp_path,
                               "-o", json.dumps({"dataset_reader.size": [8, 12]}))
    assert np.array(outputs[0]["predicted_mask"]).shape == (8, 12)


def bad_inputs(tmp_path: Path) -> List[tuple]:
    """(case, input line, the message `allennlp predict` stops with); `tmp_path / "notes.png"` is
    a text file."""
    not_an_image = tmp_path / "notes.png"
    missing = tmp_path / "missing.png"
    return [
        ("missing-file", {"image_path": str(missing)},
         rf"input line 1: {re.escape(str(missing))}: no such image file \(a relative path is read from the working "
         r"directory, .*\)"),
        ("unreadable-file", {"image_path": str(not_an_image)},
         rf"input line 1: {re.escape(str(not_an_image))}: cannot read it as an image \(.*\)"),
        ("rows-of-different-lengths", {"image": [[[1, 2, 3]], [[1, 2, 3], [4, 5, 6]]]},
         r"input line 1: <input>: the image is not a regular array of numbers; expected H x W x 3 nested lists "
         r"\(H rows of W pixels \[r, g, b\], every row of the same length\)"),
        ("two-channels", {"image": [[[1, 2], [3, 4]]]},
         r"input line 1: <input>: the image has shape \(1, 2, 2\); expected \(H, W, 3\), RGB channels last"),
        ("pixels-are-numbers", {"image": [[1, 2, 3]]},
         r"input line 1: field image\[0\]\[0\] must be a list of finite numbers, got the number 1"),
        ("a-string", {"image": "horse.png"},
         r"input line 1: field image must be a list of lists of lists of finite numbers, got the string 'horse.png'"),
        ("integers-above-255", {"image": [[[0, 10, 300]]]},
         r"input line 1: <input>: integer image values must be 0-255, found 0 to 300"),
        ("floats-above-1", {"image": [[[0.5, 10, 3]]]},
         r"input line 1: <input>: float image values must be in \[0, 1\], found 10\.0 at row 0, column 0, channel 1"),
        ("neither", {}, r"input line 1: give either 'image' \(.*\) or 'image_path' \(an image file\), found neither"),
        ("both", {"image": [[[0, 0, 0]]], "image_path": str(IMAGE_FILE)},
         r"input line 1: give either 'image' \(.*\) or 'image_path' \(an image file\), not both"),
        ("overlay-not-png", {"image_path": str(IMAGE_FILE), "overlay_path": "overlay.jpg"},
         r"input line 1: overlay_path 'overlay.jpg': expected the name of a \.png file \(the overlay is a PNG\)"),
        ("overlay-folder-missing", {"image_path": str(IMAGE_FILE), "overlay_path": str(tmp_path / "no" / "o.png")},
         rf"input line 1: overlay_path '{re.escape(str(tmp_path / 'no' / 'o.png'))}': its folder .* does not exist"),
        ("unknown-field", {"image_path": str(IMAGE_FILE), "overlay": "o.png"},
         r"input line 1: unknown fields \['overlay'\]: the SegmentationArraysReader takes the fields "
         r"\['image', 'image_path', 'mask', 'source'\]"),
    ]


BAD_CASES = [case for case, _, _ in bad_inputs(Path("unused"))]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_inputs_name_the_line_and_what_was_expected(loaded, tmp_path, case):
    """Through `allennlp predict`'s line loop on a fresh predictor of the loaded archive."""
    line, message = next((line, message) for name, line, message in bad_inputs(tmp_path) if name == case)
    (tmp_path / "notes.png").write_text("not a picture")
    inputs, outputs = tmp_path / "inputs.jsonl", tmp_path / "outputs.jsonl"
    inputs.write_text(json.dumps(line) + "\n")
    with pytest.raises(ConfigurationError) as error:
        _PredictManager(Predictor.from_archive(loaded), str(inputs), str(outputs), 1, False, False).run()
    assert re.fullmatch(message, str(error.value)), str(error.value)


def test_skip_writes_an_error_line_per_bad_input(archive, tmp_path):
    lines = [{"image_path": str(IMAGE_FILE)}, {"image_path": "missing.png"}, {"image": [[[1, 2]]]}]
    outputs = allennlp_predict(archive, lines, tmp_path, "--predictor-args", '{"on_bad_input": "skip"}')
    assert "predicted_mask" in outputs[0]
    assert outputs[1] == {"error": f"input line 2: missing.png: no such image file (a relative path is read from "
                                   f"the working directory, {Path.cwd()})"}
    assert outputs[2]["error"].startswith("input line 3: <input>: the image has shape (1, 1, 2)")
