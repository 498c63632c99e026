"""End to end on fixtures/segmentation/tiny.npz (16x16 images) with the segmentation configs' own
code (training_configs/segmentation/segmentation.libsonnet through fixtures/configs/horses_tiny*,
tiny nets): `allennlp train` of cross-entropy (with the U-Net and with the Gaussian CRF over it) and
SEAL-dynamic NCE, then `evaluate` and `predict`
(the `seal` predictor, images as nested lists) on the archive of each."""
import json

import numpy as np
import pytest

from tests.util import FIXTURE_CONFIGS, REPO_ROOT, read_json, read_json_lines, run_allennlp

FIXTURE = REPO_ROOT / "fixtures" / "segmentation" / "tiny.npz"
METRICS = ("mean_iou", "global_iou", "pixel_accuracy")
NUM_PREDICTED = 3


@pytest.fixture(scope="module", params=["cross_entropy", "seal_dynamic_nce", "gaussian_crf_cross_entropy"])
def trained(request, tmp_path_factory):
    serialization_dir = tmp_path_factory.mktemp("horses") / request.param
    run_allennlp("train", FIXTURE_CONFIGS / f"horses_tiny_{request.param}.jsonnet", "-s", serialization_dir)
    return serialization_dir


def test_train_reports_iou_metrics_and_losses(trained):
    metrics = read_json(trained / "metrics.json")
    assert metrics["epoch"] == 1  # 0-based: two epochs
    for key in [f"test_{name}" for name in METRICS] + ["best_validation_mean_iou", "training_mean_iou"]:
        assert 0.0 <= metrics[key] <= 1.0, key
    losses = [key for key in metrics if key.startswith("training_") and key.endswith("loss")]
    assert losses and all(np.isfinite(metrics[key]) for key in losses)
    config = read_json(trained / "config.json")
    expected_task_nn = "gaussian-crf" if trained.name.startswith("gaussian_crf") else "unet"
    assert config["model"]["output_space"]["type"] == "binary-mask"
    assert config["model"]["task_nn"]["type"] == expected_task_nn


def test_evaluate_reproduces_the_test_metrics_of_training(trained, tmp_path):
    output = tmp_path / "metrics.json"
    run_allennlp("evaluate", trained / "model.tar.gz", FIXTURE, "--output-file", output)
    evaluated, expected = read_json(output), read_json(trained / "metrics.json")
    for name in METRICS:
        assert evaluated[name] == pytest.approx(expected[f"test_{name}"], abs=1e-6), name


def test_predict_images_given_as_nested_lists(trained, tmp_path):
    """uint8 `(H, W, 3)` images as JSON nested lists give a 0/1 mask of the image's size, the
    threshold of the per-pixel probabilities; the same image in [0, 1] floats gives the same."""
    with np.load(FIXTURE) as arrays:
        images = arrays["images"][:NUM_PREDICTED]
    inputs = [{"image": image.tolist()} for image in images]
    inputs.append({"image": (images[0] / 255.0).tolist()})
    input_file = tmp_path / "inputs.jsonl"
    input_file.write_text("".join(json.dumps(line) + "\n" for line in inputs))
    output_file = tmp_path / "predictions.jsonl"
    run_allennlp("predict", trained / "model.tar.gz", input_file, "--output-file", output_file, "--silent")
    predictions = read_json_lines(output_file)
    assert len(predictions) == len(inputs)
    height, width = images.shape[1:3]
    for prediction in predictions:
        mask, probabilities = np.array(prediction["predicted_mask"]), np.array(prediction["probabilities"])
        assert mask.shape == probabilities.shape == (height, width)
        assert ((probabilities >= 0) & (probabilities <= 1)).all()
        assert np.array_equal(mask, (probabilities >= 0.5).astype(int))
        assert prediction["foreground_fraction"] == pytest.approx(mask.mean(), abs=1e-6)
    np.testing.assert_allclose(predictions[-1]["probabilities"], predictions[0]["probabilities"], atol=1e-5)
