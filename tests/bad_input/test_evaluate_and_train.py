"""Bad data for `allennlp evaluate` and `allennlp train` (in-process, on tiny archives of the
fixture configs): empty and missing data sets, files whose labels differ from the model's, and the
metrics `evaluate` prints.  The scene files with other labels are made from the scene test fixture."""
import json
import re
from pathlib import Path
from typing import List

import pytest
from allennlp.commands.evaluate import evaluate_from_archive
from allennlp.common.checks import ConfigurationError

from tests.bad_input.conftest import BAD, ONE_EPOCH
from tests.util import FIXTURE_CONFIGS, SCENE_LABELS, SCENE_SMALL, isolated_logging, repo_root_cwd, train_in_process

SCENE, WNUT = "scene_small_cross_entropy", "wnut16_small_cross_entropy"
SCENE_TEST = SCENE_SMALL / "scene-test.arff"
NUM_FEATURES = 294


def scene_with_labels(directory: Path, labels: List[str], rows: bool = True) -> Path:
    """The scene test fixture with only `labels` (in that order; the last attributes, MEKA's
    `-C -n`) and, unless `rows` is false, its data rows."""
    lines = SCENE_TEST.read_text().splitlines()
    data_line = lines.index("@data")
    names = [line.split()[1] for line in lines[:data_line] if line.startswith("@attribute")]
    header = [f"@relation 'scene: -C -{len(labels)}'", ""]
    header += [f"@attribute {name} numeric" for name in names[:NUM_FEATURES]]
    header += [f"@attribute {label} {{0,1}}" for label in labels] + ["", "@data"]
    columns = [NUM_FEATURES + names[NUM_FEATURES:].index(label) for label in labels]
    body = [",".join(values[:NUM_FEATURES] + [values[c] for c in columns])
            for values in (line.split(",") for line in lines[data_line + 1:] if line.strip())]
    path = directory / f"scene-{'-'.join(labels) or 'none'}{'' if rows else '-no-rows'}.arff"
    path.write_text("\n".join(header + (body if rows else [])) + "\n")
    return path


def evaluate(archive: Path, data: Path):
    with repo_root_cwd(), isolated_logging():
        return evaluate_from_archive(str(archive), str(data))


def test_evaluate_prints_the_metrics_it_returns(archive, capsys):
    """Item 11: no --output-file, the metrics still reach the user (stdout, as JSON)."""
    trained = archive(SCENE)
    capsys.readouterr()  # what training printed
    metrics = evaluate(trained, SCENE_TEST)
    printed = json.loads(capsys.readouterr().out)
    assert printed == metrics and 0.0 <= printed["example_f1"] <= 1.0 and "loss" in printed


def test_evaluate_maps_labels_in_another_order_by_name(archive, tmp_path):
    reversed_labels = scene_with_labels(tmp_path, list(reversed(SCENE_LABELS)))
    assert evaluate(archive(SCENE), reversed_labels) == evaluate(archive(SCENE), SCENE_TEST)


@pytest.mark.parametrize(
    "make_file, message",
    [
        (lambda d: scene_with_labels(d, SCENE_LABELS, rows=False),
         "{}: the data set is empty (no data rows after the @data line); a data set needs at least one instance"),
        (lambda d: scene_with_labels(d, list(SCENE_LABELS[:-1])),
         "{}: the model's labels ['Urban'] are not labels of this data, whose labels are ['Beach', 'Sunset', "
         "'FallFoliage', 'Field', 'Mountain']; data to evaluate must have every label the model knows (matched by "
         "name), or those labels would be scored as always absent"),
    ],
    ids=["empty-file", "file-lacks-a-model-label"],
)
def test_evaluate_refuses_scene_data(archive, tmp_path, make_file, message):
    path = make_file(tmp_path)
    with pytest.raises(ConfigurationError) as error:
        evaluate(archive(SCENE), path)
    assert str(error.value) == message.format(path)


def test_evaluate_names_a_tag_the_model_does_not_know(archive):
    path = BAD / "conll" / "unknown_tag.conll"
    with pytest.raises(ConfigurationError) as error:
        evaluate(archive(WNUT), path)
    assert re.fullmatch(re.escape(f"{path}, line 4: tags ['U-spaceship'] are unknown to the model, which knows the ")
                        + r"\d+ tags \[.*\] \(vocabulary namespace 'labels'\)", str(error.value)), str(error.value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"train_data_path": None}, "ArffDatasetReader was given no data path (null): set the data path in question "
                                    "(e.g. 'train_data_path') to a file"),
        ({"train_data_path": "EMPTY"}, "EMPTY: the data set is empty (no data rows after the @data line); a data set "
                                       "needs at least one instance"),
        ({"validation_data_path": "EMPTY"}, "EMPTY: the data set is empty (no data rows after the @data line); a "
                                            "data set needs at least one instance"),
    ],
    ids=["null-train-path", "empty-training-data", "empty-validation-data"],
)
def test_training_refuses_missing_or_empty_data(tmp_path, overrides, message):
    empty = str(scene_with_labels(tmp_path, SCENE_LABELS, rows=False))
    overrides = {key: empty if value == "EMPTY" else value for key, value in overrides.items()}
    with pytest.raises(ConfigurationError) as error:
        train_in_process(FIXTURE_CONFIGS / f"{SCENE}.jsonnet", tmp_path / "run", {**ONE_EPOCH, **overrides})
    assert str(error.value) == message.replace("EMPTY", empty)
    assert not (tmp_path / "run" / "model.tar.gz").exists()
