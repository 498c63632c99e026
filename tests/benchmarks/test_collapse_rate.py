"""The collapse-rate benchmark's data variants and verdicts (benchmarks/collapse_rate.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import collapse_rate  # noqa: E402
from seal.data.dataset_readers import ArffDatasetReader  # noqa: E402
from tests.util import SCENE_LABELS, SCENE_SMALL  # noqa: E402

SOURCE = {split: str(SCENE_SMALL / f"scene-{split}.arff") for split in ("train", "dev", "test")}


def test_a_scene_variant_keeps_the_drawn_features_and_labels_of_every_row(tmp_path):
    paths = collapse_rate.write_variant(SOURCE, str(tmp_path), "scene-f10-l3-s7", 10, 3, seed=7)
    attributes, rows = collapse_rate.read_dense_arff(SOURCE["dev"])
    kept_attributes, kept_rows = collapse_rate.read_dense_arff(paths["dev"])
    columns = [attributes.index(line) for line in kept_attributes]
    assert len(columns) == 13 and columns == sorted(columns[:10]) + sorted(columns[10:])
    assert max(columns[:10]) < 294 and min(columns[10:]) >= 294  # 10 features, then 3 labels
    assert kept_rows == [[row[c] for c in columns] for row in rows]
    reader = ArffDatasetReader(num_features=10)
    variant = list(reader.read(paths["dev"]))
    assert len(variant) == len(rows) and set(reader.label_names) <= set(SCENE_LABELS)
    # the same seed draws the same variant, another seed another one
    assert collapse_rate.read_dense_arff(
        collapse_rate.write_variant(SOURCE, str(tmp_path / "same"), "v", 10, 3, seed=7)["dev"])[0] == kept_attributes
    assert collapse_rate.read_dense_arff(
        collapse_rate.write_variant(SOURCE, str(tmp_path / "other"), "v", 10, 3, seed=8)["dev"])[0] != kept_attributes


def test_a_variant_cannot_ask_for_more_than_scene_has(tmp_path):
    with pytest.raises(SystemExit, match="294 features and 6 labels"):
        collapse_rate.write_variant(SOURCE, str(tmp_path), "v", 300, 3, seed=1)


def run(method, seed, best_dev, test=0.5):
    return {"dataset": "d", "method": method, "seed": seed, "archive": f"/runs/{method}_{seed}/model.tar.gz",
            "best_validation_example_f1": best_dev, "test_example_f1": test}


def test_a_run_collapses_on_constant_predictions_or_a_best_dev_score_below_one_epoch_of_cross_entropy(monkeypatch):
    distinct = {"/runs/seal_dynamic_nce_1/model.tar.gz": 1, "/runs/seal_dynamic_nce_2/model.tar.gz": 40,
                "/runs/seal_dynamic_nce_3/model.tar.gz": 40}
    monkeypatch.setattr(collapse_rate, "distinct_dev_predictions", lambda archive: distinct[archive])
    monkeypatch.setattr(collapse_rate, "first_epoch_dev_f1", lambda run_dir: 0.4)
    reference = run("cross_entropy", 1, 0.6)
    constant = collapse_rate.judge(run("seal_dynamic_nce", 1, 0.7), reference)
    below = collapse_rate.judge(run("seal_dynamic_nce", 2, 0.4), reference)
    healthy = collapse_rate.judge(run("seal_dynamic_nce", 3, 0.41), reference)
    assert (constant["constant"], constant["below_first_epoch"], constant["collapsed"]) == (True, False, True)
    assert (below["constant"], below["below_first_epoch"], below["collapsed"]) == (False, True, True)
    assert healthy["collapsed"] is False
    table = collapse_rate.summarise([reference, constant, below, healthy], ["d"], ["seal_dynamic_nce"])
    seal = table[1]
    assert (seal["runs"], seal["collapsed"], seal["constant"], seal["below_first_epoch"]) == (3, 2, 1, 1)
    assert seal["collapsed_seeds"] == [1, 2] and "2 / 3" in "\n".join(collapse_rate.markdown(table))


def test_default_seed_is_allennlps_own():
    import common

    assert collapse_rate.parse_seed("default") == "default" and collapse_rate.parse_seed("3") == 3
    assert common.seed_overrides("default") == {"random_seed": 13370, "numpy_seed": 1337, "pytorch_seed": 133}
    assert common.seed_overrides(4) == {"random_seed": 4, "numpy_seed": 4, "pytorch_seed": 4}
