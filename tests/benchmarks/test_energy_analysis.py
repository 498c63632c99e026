"""The energy analysis (benchmarks/energy_analysis.py): the Hessian of a score with a closed-form
Hessian, the co-occurrence matrix of a hand-made label matrix, and the figures and numbers of
fixture runs; and the hypergradient norms an `implicit-energy` run records per epoch."""
import math
import os
import sys

import numpy
import pytest
import torch
from allennlp.common import Params
from allennlp.data import Instance
from allennlp.data.fields import TensorField
from allennlp.models import Model

from seal.data.fields.label_set_field import LabelSetField
from seal.modules.score_nets.score_nn import ScoreNN
from tests.models.test_variants import INPUT_DIM, NUM_LABELS, task_nn, vocab
from tests.util import FIXTURE_CONFIGS, SCENE_LABELS, read_json, train_in_process

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import energy_analysis  # noqa: E402

HYPERGRADIENT_METRICS = ("training_hypergradient_direct_norm", "training_hypergradient_implicit_norm",
                         "training_hypergradient_implicit_ratio")


def pairwise_score_nn(weights: torch.Tensor, global_weight: float = 2.0) -> ScoreNN:
    """A score `<logits(x), y> + global_weight * sum_{i != j} y_i W_ij y_j` with the given `W`:
    its energy's Hessian in `y` is `-global_weight * (W + W^T)` off the diagonal and 0 on it."""
    score_nn = ScoreNN.from_params(
        Params({"task_nn": task_nn(), "global_score": {"type": "label-pairwise"}, "global_weight": global_weight}),
        vocab=vocab(),
    )
    with torch.no_grad():
        score_nn.global_score.weights.copy_(weights)
    return score_nn.eval()


def closed_form_hessian(weights: torch.Tensor, global_weight: float = 2.0) -> torch.Tensor:
    off = weights * (1 - torch.eye(len(weights)))
    return -global_weight * (off + off.T)


# ---- the matrices ----------------------------------------------------------------------------
def test_energy_hessian_of_a_pairwise_score_is_its_closed_form_at_every_example():
    torch.manual_seed(0)
    weights = torch.randn(NUM_LABELS, NUM_LABELS)
    bound = pairwise_score_nn(weights).bind({"x": torch.randn(5, INPUT_DIM)})
    hessians = energy_analysis.energy_hessian(bound, torch.rand(5, NUM_LABELS))

    assert hessians.shape == (5, NUM_LABELS, NUM_LABELS)
    for hessian in hessians:
        torch.testing.assert_close(hessian, closed_form_hessian(weights))


def test_energy_hessian_of_a_non_quadratic_score_matches_autograd_per_example():
    torch.manual_seed(0)
    score_nn = ScoreNN.from_params(
        Params({"task_nn": task_nn(), "global_score": {"type": "label-mlp", "hidden_dim": 4}}), vocab=vocab()
    ).eval()
    x, y = torch.randn(3, INPUT_DIM), torch.rand(3, NUM_LABELS)
    bound = score_nn.bind({"x": x})
    hessians = energy_analysis.energy_hessian(bound, y)
    for b in range(3):
        def energy(row, b=b):
            return -score_nn.bind({"x": x[b:b + 1]})(row.view(1, 1, -1)).sum()

        torch.testing.assert_close(hessians[b], torch.autograd.functional.hessian(energy, y[b]))
    assert hessians.abs().max() > 0


def test_a_purely_local_energy_has_a_zero_hessian():
    score_nn = ScoreNN.from_params(Params({"task_nn": task_nn()}), vocab=vocab()).eval()
    hessians = energy_analysis.energy_hessian(score_nn.bind({"x": torch.randn(2, INPUT_DIM)}), torch.rand(2, 3))
    assert torch.equal(hessians, torch.zeros(2, 3, 3))


def test_cooccurrence_is_the_correlation_of_the_label_columns():
    labels = torch.tensor([[1, 1, 0, 1], [1, 1, 0, 1], [0, 0, 1, 1], [0, 0, 0, 1]])
    matrix = energy_analysis.cooccurrence(labels)
    # P = (1/2, 1/2, 1/4); P(0 and 1) = 1/2, P(0 and 2) = 0; column 3 is always on: no correlation
    third = -(1 / 8) / math.sqrt(1 / 4 * 3 / 16)  # -1/sqrt(3)
    expected = torch.tensor([[1.0, 1.0, third, 0.0], [1.0, 1.0, third, 0.0], [third, third, 1.0, 0.0],
                             [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(matrix, expected)
    torch.testing.assert_close(matrix[:3, :3], torch.from_numpy(numpy.corrcoef(labels[:, :3].T.numpy())))


def test_off_diagonal_pearson_takes_each_pair_once_and_ignores_the_diagonal():
    a = torch.tensor([[9.0, 1.0, 2.0], [1.0, -9.0, 3.0], [2.0, 3.0, 0.0]])
    b = torch.tensor([[0.0, 2.0, 4.0], [2.0, 5.0, 6.0], [4.0, 6.0, 1.0]])
    assert energy_analysis.off_diagonal(a).tolist() == [1.0, 2.0, 3.0]
    assert energy_analysis.pearson(energy_analysis.off_diagonal(a), energy_analysis.off_diagonal(b)) == \
        pytest.approx(1.0)
    assert energy_analysis.pearson(torch.ones(3), torch.arange(3.0)) is None
    assert torch.isnan(energy_analysis.without_diagonal(a).diagonal()).all()


def test_average_hessian_over_instances_at_the_task_net_or_the_gold_labels():
    torch.manual_seed(0)
    weights = torch.randn(NUM_LABELS, NUM_LABELS)
    config = {"type": "seal-dynamic", "task_nn": task_nn(),
              "score_nn": {"task_nn": task_nn(), "global_score": {"type": "label-pairwise"}, "global_weight": 2.0}}
    model = Model.from_params(vocab=vocab(), params=Params(config))
    with torch.no_grad():
        model.score_nn.global_score.weights.copy_(weights)
    names = ["a", "b", "c"]
    gold = [["a"], ["a", "c"], [], ["b", "c"], ["c"]]
    instances = [Instance({"x": TensorField(torch.randn(INPUT_DIM)), "labels": LabelSetField(labels, names)})
                 for labels in gold]
    for at in ("task-net", "gold"):
        result = energy_analysis.average_hessian(model, instances, at=at, max_examples=4, batch_size=3)
        assert result["examples"] == 4
        torch.testing.assert_close(result["hessian"], closed_form_hessian(weights))
        assert result["gold"].tolist() == [[1, 0, 0], [1, 0, 1], [0, 0, 0], [0, 1, 1]]
    assert energy_analysis.label_names(model) == names


# ---- fixture runs ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def implicit_run(tmp_path_factory):
    """The implicit-energy scene fixture trained for its 2 epochs."""
    run = tmp_path_factory.mktemp("implicit") / "run"
    train_in_process(FIXTURE_CONFIGS / "scene_small_implicit_energy_cd.jsonnet", run, {})
    return run


def test_an_implicit_run_records_the_hypergradient_norms_of_each_epoch(implicit_run):
    for epoch in (0, 1):
        metrics = read_json(implicit_run / f"metrics_epoch_{epoch}.json")
        direct, implicit, ratio = (metrics[key] for key in HYPERGRADIENT_METRICS)
        assert direct > 0 and implicit > 0 and math.isfinite(direct) and math.isfinite(implicit)
        assert ratio == pytest.approx(implicit / direct)
        assert not any(key.startswith("validation_hypergradient") for key in metrics)  # training only
    curve = energy_analysis.hypergradient_curve(str(implicit_run))
    assert [row["epoch"] for row in curve] == [0, 1]


def test_the_command_writes_the_heat_maps_the_curve_and_the_numbers(implicit_run, tmp_path):
    out = tmp_path / "analysis"
    record = energy_analysis.main(["--archive", str(implicit_run / "model.tar.gz"), "--run-dir", str(implicit_run),
                                   "--out-dir", str(out), "--max-examples", "10"])

    for name in ("energy_hessian.png", "hypergradient_norms.png", "analysis.md", "analysis.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "energy_hessian.png").stat().st_size < 200_000
    saved = read_json(out / "analysis.json")
    assert saved["labels"] == list(SCENE_LABELS)
    assert saved["hessian_examples"] == 10 and saved["cooccurrence_examples"] == 40
    hessian, cooc = torch.tensor(saved["hessian"]), torch.tensor(saved["cooccurrence"])
    assert hessian.shape == cooc.shape == (6, 6)
    torch.testing.assert_close(hessian, hessian.T)  # a Hessian is symmetric
    expected = energy_analysis.pearson(energy_analysis.off_diagonal(hessian), energy_analysis.off_diagonal(cooc))
    assert saved["off_diagonal_pearson"] == pytest.approx(expected, abs=1e-4)
    assert record["seeds"] == {"random_seed": 13370, "numpy_seed": 1337, "pytorch_seed": 133}
    text = (out / "analysis.md").read_text()
    assert text.startswith("Command: `python ") and "Machine: " in text and "Seeds: random_seed 13370" in text
    assert "Pearson correlation of the 15 off-diagonal pairs" in text and "| epoch | direct |" in text


def test_a_run_without_hypergradient_metrics_is_refused(tmp_path):
    (tmp_path / "metrics_epoch_0.json").write_text('{"epoch": 0, "training_duration": "0:00:01"}')
    with pytest.raises(SystemExit, match="implicit-energy"):
        energy_analysis.hypergradient_curve(str(tmp_path))


def test_a_sequence_model_gets_its_tag_transition_heat_map(tmp_path):
    run = tmp_path / "run"
    train_in_process(FIXTURE_CONFIGS / "brown_pos_small_crf_seal_dynamic_nce.jsonnet", run, {"trainer.num_epochs": 1})
    record = energy_analysis.main(["--archive", str(run / "model.tar.gz"), "--out-dir", str(tmp_path / "out")])

    assert (tmp_path / "out" / "transitions.png").stat().st_size > 0
    assert sorted(record["transitions"]) == ["score_nn.global_score", "task_nn"]
    num_tags = len(record["labels"])
    for matrix in record["transitions"].values():
        assert torch.tensor(matrix).shape == (num_tags, num_tags)
        assert torch.tensor(matrix).abs().max() > 0  # trained away from its zero start
