"""Tests of `examples/my_seal_extension`: a user package (not part of seal) that registers its own
`Sampler` and `StructuredScore` and uses them from a config through `--include-package`."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from examples.my_seal_extension import LabelCountScore, NoisyGoldSampler
from seal.modules.output_spaces import MultiLabelOutputSpace
from seal.modules.samplers import Sampler, SamplingContext
from seal.modules.structured_scores import StructuredScore
from tests.util import HANG_GUARD_SECONDS

REPO = Path(__file__).resolve().parents[1]
CONFIG = "examples/my_seal_extension/scene_small_my_components.jsonnet"
SPACE = MultiLabelOutputSpace()
GOLD = torch.tensor([[1, 0, 0, 1, 0, 0], [0, 1, 1, 1, 0, 1]])  # (batch=2, num_labels=6)


def vocab(num_labels: int = 6) -> Vocabulary:
    vocabulary = Vocabulary()
    vocabulary.add_tokens_to_namespace([f"label{i}" for i in range(num_labels)], "labels")
    return vocabulary


# ---- NoisyGoldSampler ----------------------------------------------------------------------
def test_noisy_gold_is_registered_and_built_from_params():
    sampler = Sampler.from_params(Params({"type": "my-noisy-gold", "num_samples": 4}))
    assert isinstance(sampler, NoisyGoldSampler)
    assert (sampler.num_samples, sampler.flip_probability) == (4, 0.1)


def test_noisy_gold_with_probability_zero_repeats_the_gold_output():
    samples = NoisyGoldSampler(num_samples=3, flip_probability=0.0)(SamplingContext(SPACE, labels=GOLD))
    assert samples.log_q is None
    assert samples.y.shape == (2, 3, 6) and samples.y.dtype == torch.get_default_dtype()
    assert not samples.y.requires_grad
    torch.testing.assert_close(samples.y, GOLD.float().unsqueeze(1).expand(2, 3, 6))


def test_noisy_gold_with_probability_one_gives_the_complement():
    samples = NoisyGoldSampler(num_samples=2, flip_probability=1.0)(SamplingContext(SPACE, labels=GOLD))
    torch.testing.assert_close(samples.y, 1.0 - GOLD.float().unsqueeze(1).expand(2, 2, 6))


def test_noisy_gold_flips_each_label_with_the_given_probability():
    p, batch, num_labels, num_samples = 0.3, 64, 6, 500  # 192,000 Bernoulli draws, std 0.001
    with torch.random.fork_rng():
        torch.manual_seed(0)
        gold = torch.bernoulli(torch.full((batch, num_labels), 0.5)).long()
        y = NoisyGoldSampler(num_samples, p)(SamplingContext(SPACE, labels=gold)).y
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    flipped = y != gold.unsqueeze(1).float()
    assert flipped.float().mean().item() == pytest.approx(p, abs=0.01)
    # as often from 1 to 0 as from 0 to 1
    positive = gold.bool().unsqueeze(1).expand_as(flipped)
    assert flipped[positive].float().mean().item() == pytest.approx(p, abs=0.015)
    assert flipped[~positive].float().mean().item() == pytest.approx(p, abs=0.015)


def test_noisy_gold_respects_the_output_space_mask():
    class PaddedSpace(MultiLabelOutputSpace):
        """Outputs `(batch, num_samples, seq_len, num_tags)` with padded positions."""

        def mask_outputs(self, y, mask):
            return y * mask.unsqueeze(1).unsqueeze(-1).to(y.dtype)

    labels = torch.zeros(2, 3, 4, dtype=torch.long)  # (batch, seq_len, num_tags)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    y = NoisyGoldSampler(2, 1.0)(SamplingContext(PaddedSpace(), labels=labels, mask=mask)).y
    assert y.shape == (2, 2, 3, 4)
    expected = mask.float().unsqueeze(1).unsqueeze(-1).expand(2, 2, 3, 4)  # all flipped to 1, except padding
    torch.testing.assert_close(y, expected)


@pytest.mark.parametrize("probability", [-0.1, 1.5, float("nan")])
def test_noisy_gold_rejects_a_probability_outside_the_unit_interval(probability):
    with pytest.raises(ConfigurationError, match="flip_probability"):
        NoisyGoldSampler(flip_probability=probability)


def test_noisy_gold_rejects_a_non_positive_number_of_samples():
    with pytest.raises(ConfigurationError, match="num_samples"):
        NoisyGoldSampler(num_samples=0)


def test_noisy_gold_needs_gold_labels():
    context = SamplingContext(SPACE, task_logits=torch.zeros(2, 6))  # prediction time: no labels
    with pytest.raises(ConfigurationError, match="gold labels"):
        NoisyGoldSampler()(context)


# ---- LabelCountScore -----------------------------------------------------------------------
def count_score(max_count=4, table=(0.0, 2.0, -1.0, 3.0, 5.0)) -> LabelCountScore:
    score = LabelCountScore(vocab(), max_count=max_count)
    with torch.no_grad():
        score.table.copy_(torch.tensor(table))
    return score


def test_label_count_is_registered_and_starts_at_zero():
    score = StructuredScore.from_params(Params({"type": "my-label-count"}), vocab=vocab())
    assert isinstance(score, LabelCountScore) and score.max_count == 10
    torch.testing.assert_close(score.table.data, torch.zeros(11))


def test_label_count_rejects_max_count_below_one():
    with pytest.raises(ConfigurationError, match="max_count"):
        LabelCountScore(vocab(), max_count=0)


def test_label_count_interpolates_the_table_at_fractional_counts():
    # table = [0, 2, -1, 3, 5] at counts 0..4
    y = torch.tensor(
        [
            [
                [0.5, 0.25, 0.5, 0.0, 0.0, 0.0],  # count 1.25 -> 0.75 * 2 + 0.25 * (-1) = 1.25
                [1.0, 1.0, 0.5, 0.0, 0.0, 0.0],  # count 2.5 -> 0.5 * (-1) + 0.5 * 3 = 1.0
                [0.9, 0.9, 0.9, 0.9, 0.0, 0.0],  # count 3.6 -> 0.4 * 3 + 0.6 * 5 = 4.2
            ],
            [
                [1.0, 0.0, 1.0, 0.0, 0.0, 0.0],  # count 2 (integer) -> table[2] = -1
                [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # count 0 -> table[0] = 0
                [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # count 6, clamped to max_count 4 -> table[4] = 5
            ],
        ]
    )
    scores = count_score()(y)
    assert scores.shape == (2, 3)
    torch.testing.assert_close(scores, torch.tensor([[1.25, 1.0, 4.2], [-1.0, 0.0, 5.0]]))


def test_label_count_ignores_padded_factors():
    y = torch.rand(1, 2, 3, 4)  # (batch, num_samples, seq_len, num_tags)
    mask = torch.tensor([[True, False, True]])
    changed = y.clone()
    changed[:, :, 1] = 1.0  # only the padded position differs
    score = count_score(max_count=8, table=[float(i * i) for i in range(9)])
    torch.testing.assert_close(score(y, mask), score(changed, mask))


def test_label_count_gradient_matches_finite_differences():
    score = count_score().double()
    # counts 1.3, 2.7, 3.4: away from the kinks at integer counts
    y = torch.tensor([[[0.3, 0.2, 0.4, 0.1, 0.2, 0.1], [0.9, 0.8, 0.5, 0.2, 0.2, 0.1], [0.9, 0.9, 0.6, 0.5, 0.4, 0.1]]],
                     dtype=torch.double, requires_grad=True)
    score(y).sum().backward()
    # analytic: every y_i gets the slope of its segment:
    # table[2]-table[1] = -3, table[3]-table[2] = 4, table[4]-table[3] = 2
    expected_slopes = torch.tensor([-3.0, 4.0, 2.0], dtype=torch.double)
    torch.testing.assert_close(y.grad, expected_slopes.view(1, 3, 1).expand(1, 3, 6))

    eps = 1e-6
    numeric = torch.zeros_like(y)
    with torch.no_grad():
        for index in torch.cartesian_prod(*(torch.arange(n) for n in y.shape)).tolist():
            index = tuple(index)
            plus, minus = y.detach().clone(), y.detach().clone()
            plus[index] += eps
            minus[index] -= eps
            numeric[index] = (score(plus)[index[:2]] - score(minus)[index[:2]]) / (2 * eps)
    torch.testing.assert_close(y.grad, numeric, atol=1e-6, rtol=1e-6)
    assert torch.autograd.gradcheck(lambda y: score(y), (y.detach().requires_grad_(True),))


def test_label_count_gradient_to_the_table_is_the_interpolation_weights():
    score = count_score()
    score(torch.tensor([[[0.5, 0.25, 0.5, 0.0, 0.0, 0.0]]])).sum().backward()  # count 1.25
    torch.testing.assert_close(score.table.grad, torch.tensor([0.0, 0.75, 0.25, 0.0, 0.0]))


# ---- end to end: the allennlp command ------------------------------------------------------
def allennlp_command() -> str:
    venv = REPO / ".venv" / "bin" / "allennlp"
    return str(venv if venv.exists() else Path(sys.executable).with_name("allennlp"))


def test_allennlp_train_with_the_extension_package(tmp_path):
    serialization_dir = tmp_path / "run"
    command = [
        allennlp_command(), "train", CONFIG, "-s", str(serialization_dir),
        "--include-package", "seal", "--include-package", "examples.my_seal_extension",
    ]
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=HANG_GUARD_SECONDS, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr[-5000:]
    assert (serialization_dir / "model.tar.gz").is_file()
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test_example_f1"] <= 1.0 and math.isfinite(metrics["training_score_nn_loss"])

    # The archive holds our components, and the loss-net's step trained the label-count table.
    from allennlp.models.archival import load_archive

    model = load_archive(str(serialization_dir / "model.tar.gz")).model
    assert isinstance(model.score_nn.global_score, LabelCountScore)
    assert model.score_nn.global_score.table.detach().abs().sum() > 0
    noisy = model.score_nn_loss.sampler.samplers[1]
    assert isinstance(noisy, NoisyGoldSampler) and noisy.num_samples == 4
