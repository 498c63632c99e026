"""End to end on fixtures/text_multilabel/debtags_small (real debtags lines) with the configs'
own code (training_configs/text_multilabel/text_multilabel.libsonnet through
fixtures/configs/debtags_small*): `allennlp train` of cross-entropy and SEAL-dynamic NCE with the
light task-net and with a tiny BERT built at run time, `evaluate`, and `predict` on raw text."""
import json

import pytest

from scripts.tiny_bert import write_tiny_bert
from tests.util import FIXTURE_CONFIGS, REPO_ROOT, read_json, read_json_lines, run_allennlp

DEBTAGS = REPO_ROOT / "fixtures" / "text_multilabel" / "debtags_small"
LABELS = set((DEBTAGS / "labels.txt").read_text().split())


@pytest.fixture(scope="module")
def transformer(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny_bert") / "model"
    return {"TRANSFORMER_MODEL": write_tiny_bert(str(directory), [str(DEBTAGS)], hidden=32)}


@pytest.fixture(scope="module", params=["light_cross_entropy", "light_seal_dynamic_nce", "transformer_seal_dynamic_nce",
                                              "frozen_transformer_seal_dynamic_nce"])
def trained(request, transformer, tmp_path_factory):
    serialization_dir = tmp_path_factory.mktemp("debtags") / request.param
    config = FIXTURE_CONFIGS / f"debtags_small_{request.param}.jsonnet"
    run_allennlp("train", config, "-s", serialization_dir, env=transformer)
    return serialization_dir


def test_train_reports_example_micro_macro_f1_and_precision_at_k(trained):
    metrics = read_json(trained / "metrics.json")
    keys = ("test_example_f1", "test_micro_f1", "test_macro_f1", "test_p@1", "test_p@3", "test_p@5",
            "best_validation_example_f1")
    for key in keys:
        assert 0.0 <= metrics[key] <= 1.0, key


@pytest.mark.parametrize("trained", ["frozen_transformer_seal_dynamic_nce"], indirect=True)
def test_a_frozen_transformer_keeps_its_pretrained_weights(trained, transformer):
    import torch
    from transformers import AutoModel

    pretrained = AutoModel.from_pretrained(transformer["TRANSFORMER_MODEL"]).state_dict()
    weights = torch.load(trained / "best.th", map_location="cpu")
    prefix = ".embedder.transformer_model."
    frozen = {name.split(prefix, 1)[1]: value for name, value in weights.items() if prefix in name}
    assert len(frozen) >= len(pretrained) // 2  # the task-net's and the loss-net's copies
    for name, value in frozen.items():
        torch.testing.assert_close(value, pretrained[name], msg=name)


def test_batches_are_bucketed_by_text_length(trained):
    config = read_json(trained / "config.json")
    for loader in ("data_loader", "validation_data_loader"):
        assert config[loader]["batch_sampler"]["type"] == "bucket"
        assert config[loader]["batch_sampler"]["sorting_keys"] == ["tokens"]
    assert config["validation_data_loader"]["batch_sampler"]["shuffle"] is False


def test_evaluate_on_the_test_file(trained, transformer, tmp_path):
    output = tmp_path / "metrics.json"
    run_allennlp("evaluate", trained / "model.tar.gz", DEBTAGS / "test.jsonl", "--output-file", output, env=transformer)
    expected = read_json(trained / "metrics.json")["test_example_f1"]
    assert read_json(output)["example_f1"] == pytest.approx(expected, abs=1e-6)


def test_predict_raw_text_gives_top_labels_with_probabilities(trained, transformer, tmp_path):
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(
        json.dumps({"title": "Text editor for the console", "text": "A small, fast editor with syntax highlighting."})
        + "\n"
        + json.dumps({"text": "Python library to parse XML files"}) + "\n"
        + json.dumps({"text": "vim"}) + "\n"  # one token, predicted alone: narrower than the n-gram filters
    )
    output = tmp_path / "predictions.jsonl"
    run_allennlp("predict", trained / "model.tar.gz", inputs, "--output-file", output, "--silent", env=transformer)
    predictions = read_json_lines(output)
    assert len(predictions) == 3
    for prediction in predictions:
        top = prediction["top_labels"]
        assert len(top) == 10 and {t["label"] for t in top} <= LABELS
        probabilities = [t["probability"] for t in top]
        assert probabilities == sorted(probabilities, reverse=True) and all(0 <= p <= 1 for p in probabilities)
        assert set(prediction["predicted_labels"]) <= LABELS
        assert len(prediction["label_probabilities"]) == len(LABELS)
