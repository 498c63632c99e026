import socket

import pytest
import torch
import torch.multiprocessing as mp
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.testing.distributed_test import init_process
from allennlp.training.metrics import Metric
from sklearn.metrics import f1_score, hamming_loss, precision_score, recall_score

from seal.metrics import ExampleF1, HammingLoss, MultilabelMicroMacroF1, PrecisionAtK

# Shared hand-computed case: 3 instances x 4 labels.
PREDICTIONS = torch.tensor(
    [
        [0.9, 0.2, 0.6, 0.1],  # >= 0.5: P = {0, 2}
        [0.4, 0.7, 0.8, 0.3],  # P = {1, 2}
        [0.1, 0.2, 0.3, 0.4],  # P = {}
    ]
)
GOLD = torch.tensor(
    [
        [1, 0, 0, 1],  # G = {0, 3}
        [0, 1, 1, 0],  # G = {1, 2}
        [0, 0, 0, 0],  # G = {}
    ]
)
# Per label (TP, FP, FN): l0 (1,0,0) F1=1, l1 (1,0,0) F1=1, l2 (1,1,0) F1=2/3, l3 (0,0,1) F1=0.

THRESHOLDED = [ExampleF1, MultilabelMicroMacroF1, HammingLoss]
ALL = THRESHOLDED + [PrecisionAtK]


def make(cls):
    """Instance with k <= 4 for PrecisionAtK so it works on the 4-label case."""
    return cls(k=[1, 2, 4]) if cls is PrecisionAtK else cls()


def compute(metric, predictions, gold, mask=None):
    metric(predictions, gold, mask)
    return metric.get_metric(reset=True)


def random_case(seed=0, batch=50, num_labels=7):
    """Random probabilities and ~30% dense gold, with a few empty/empty rows and a dead label."""
    generator = torch.Generator().manual_seed(seed)
    predictions = torch.rand(batch, num_labels, generator=generator)
    gold = (torch.rand(batch, num_labels, generator=generator) < 0.3).long()
    predictions[:5] = 0.1  # rows 0-4: nothing predicted ...
    gold[:5] = 0  # ... and nothing gold -> empty/empty
    predictions[5:8] = 0.1  # rows 5-7: nothing predicted, one gold label
    gold[5:8, 0] = 1
    predictions[:, 6] *= 0.4  # label 6 never predicted (scores < 0.4) ...
    gold[:, 6] = 0  # ... and never gold -> counts 0 in macro F1
    return predictions, gold


# ---------------------------------------------------------------- hand-computed values


def test_example_f1_hand_computed():
    # row0: |P∩G| = 1, F1 = 2*1/(2+2) = 0.5; row1: 2*2/(2+2) = 1; row2: empty/empty -> 1.
    # mean = (0.5 + 1 + 1) / 3 = 5/6
    assert compute(ExampleF1(), PREDICTIONS, GOLD) == pytest.approx(5 / 6)


def test_micro_macro_f1_hand_computed():
    # pooled TP = 3, FP = 1, FN = 1 -> P = 3/4, R = 3/4, F1 = 2*3/(2*3+1+1) = 3/4
    # macro = (1 + 1 + 2/3 + 0) / 4 = 2/3
    result = compute(MultilabelMicroMacroF1(), PREDICTIONS, GOLD)
    assert result == pytest.approx(
        {"micro_precision": 0.75, "micro_recall": 0.75, "micro_f1": 0.75, "macro_f1": 2 / 3}
    )


def test_hamming_loss_hand_computed():
    # wrong decisions = FP + FN = 1 + 1 = 2 out of 3 * 4 = 12 -> 1/6
    assert compute(HammingLoss(), PREDICTIONS, GOLD) == pytest.approx(1 / 6)


def test_precision_at_k_hand_computed():
    # row0 ranking 0,2,1,3, gold {0,3}: p@1 = 1, p@2 = 1/2, p@4 = 2/4
    # row1 ranking 2,1,0,3, gold {1,2}: p@1 = 1, p@2 = 1,   p@4 = 2/4
    # row2 no gold:                      p@1 = 0, p@2 = 0,   p@4 = 0
    # means: p@1 = 2/3, p@2 = 1.5/3 = 1/2, p@4 = 1/3
    result = compute(PrecisionAtK(k=[1, 2, 4]), PREDICTIONS, GOLD)
    assert result == pytest.approx({"p@1": 2 / 3, "p@2": 0.5, "p@4": 1 / 3})


def test_precision_at_k_single_int_and_default():
    assert compute(PrecisionAtK(k=2), PREDICTIONS, GOLD) == pytest.approx({"p@2": 0.5})
    assert set(compute(PrecisionAtK(), torch.rand(2, 6), torch.ones(2, 6))) == {
        "p@1",
        "p@3",
        "p@5",
    }


def test_precision_at_k_ignores_threshold():
    # All scores below 0.5 still rank: top-1 of [0.1, 0.3] is label 1, which is gold -> 1.0
    result = compute(PrecisionAtK(k=1), torch.tensor([[0.1, 0.3]]), torch.tensor([[0, 1]]))
    assert result == {"p@1": 1.0}


# ---------------------------------------------------------------- conventions and options


def test_example_f1_empty_empty_is_one():
    assert compute(ExampleF1(), torch.zeros(2, 3), torch.zeros(2, 3)) == 1.0
    # predicted something, gold empty -> 0; predicted nothing, gold non-empty -> 0
    assert compute(ExampleF1(), torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2)) == 0.0
    assert compute(ExampleF1(), torch.zeros(1, 2), torch.tensor([[0, 1]])) == 0.0


def test_macro_f1_label_without_gold_or_predictions_counts_as_zero():
    # label0: TP = 1, FP = 1 -> F1 = 2/3; label1: nothing anywhere -> 0. macro = (2/3 + 0) / 2
    predictions, gold = torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[1, 0], [0, 0]])
    result = compute(MultilabelMicroMacroF1(), predictions, gold)
    assert result["macro_f1"] == pytest.approx(1 / 3)
    assert result["macro_f1"] == pytest.approx(
        f1_score(gold.numpy(), predictions.numpy() >= 0.5, average="macro", zero_division=0)
    )


def test_all_empty_micro_scores_are_zero():
    result = compute(MultilabelMicroMacroF1(), torch.zeros(2, 3), torch.zeros(2, 3))
    assert result == {"micro_precision": 0.0, "micro_recall": 0.0, "micro_f1": 0.0, "macro_f1": 0.0}


def test_threshold():
    # threshold 0.35: row0 P = {0, 2} -> 0.5; row1 P = {0, 1, 2}, |P∩G| = 2 -> 2*2/(3+2) = 0.8;
    # row2 P = {3} (0.4), G = {} -> 0. mean = (0.5 + 0.8 + 0) / 3 = 1.3 / 3
    assert compute(ExampleF1(threshold=0.35), PREDICTIONS, GOLD) == pytest.approx(1.3 / 3)
    # extra FPs: row1 label0 and row2 label3 -> wrong = 2 + 2 = 4 of 12
    assert compute(HammingLoss(threshold=0.35), PREDICTIONS, GOLD) == pytest.approx(4 / 12)
    # prediction == threshold counts as positive
    assert compute(ExampleF1(threshold=0.5), torch.tensor([[0.5]]), torch.tensor([[1]])) == 1.0


@pytest.mark.parametrize("cls", THRESHOLDED)
def test_hard_zero_one_predictions_equal_probabilities(cls):
    hard = (PREDICTIONS >= 0.5).float()
    assert compute(cls(), hard, GOLD) == compute(cls(), PREDICTIONS, GOLD)


# ---------------------------------------------------------------- accumulation, mask, reset


@pytest.mark.parametrize("cls", ALL)
def test_two_calls_equal_one_call_on_concatenation(cls):
    predictions, gold = random_case()
    split = make(cls)
    split(predictions[:20], gold[:20])
    split(predictions[20:], gold[20:])
    assert split.get_metric() == pytest.approx(compute(make(cls), predictions, gold))


@pytest.mark.parametrize("cls", ALL)
def test_mask_excludes_instances(cls):
    predictions, gold = random_case()
    mask = torch.arange(50) % 3 != 0
    masked = compute(make(cls), predictions, gold, mask)
    assert masked == pytest.approx(compute(make(cls), predictions[mask], gold[mask]))
    assert masked != pytest.approx(compute(make(cls), predictions, gold))


def test_mask_hand_computed():
    # drop row1: (0.5 + 1) / 2 = 0.75
    mask = torch.tensor([True, False, True])
    assert compute(ExampleF1(), PREDICTIONS, GOLD, mask) == pytest.approx(0.75)


@pytest.mark.parametrize("cls", ALL)
def test_reset(cls):
    metric = make(cls)
    metric(torch.zeros(3, 4), torch.ones(3, 4))
    first = metric.get_metric(reset=True)
    assert first != compute(make(cls), PREDICTIONS, GOLD)
    metric(PREDICTIONS, GOLD)  # only this batch counts after the reset
    assert metric.get_metric(reset=False) == compute(make(cls), PREDICTIONS, GOLD)
    # reset=False kept the state: a second read gives the same value
    assert metric.get_metric(reset=True) == compute(make(cls), PREDICTIONS, GOLD)
    assert metric.get_metric() == make(cls).get_metric()  # empty again


@pytest.mark.parametrize("cls", ALL)
def test_no_data_gives_zeros(cls):
    result = make(cls).get_metric(reset=True)
    values = result.values() if isinstance(result, dict) else [result]
    assert all(value == 0.0 for value in values)


@pytest.mark.parametrize("cls", ALL)
def test_detaches_gradient_tracking_inputs(cls):
    predictions = PREDICTIONS.clone().requires_grad_()
    assert compute(make(cls), predictions, GOLD) == compute(make(cls), PREDICTIONS, GOLD)


# ---------------------------------------------------------------- scikit-learn


def test_against_sklearn_random():
    predictions, gold = random_case()
    y_true, y_pred = gold.numpy(), (predictions >= 0.5).numpy()
    assert compute(ExampleF1(), predictions, gold) == pytest.approx(
        f1_score(y_true, y_pred, average="samples", zero_division=1)
    )
    # with zero_division=0 sklearn scores the 5 empty/empty rows 0 instead of 1
    assert compute(ExampleF1(), predictions, gold) == pytest.approx(
        f1_score(y_true, y_pred, average="samples", zero_division=0) + 5 / 50
    )
    result = compute(MultilabelMicroMacroF1(), predictions, gold)
    assert result == pytest.approx(
        {
            "micro_precision": precision_score(y_true, y_pred, average="micro", zero_division=0),
            "micro_recall": recall_score(y_true, y_pred, average="micro", zero_division=0),
            "micro_f1": f1_score(y_true, y_pred, average="micro", zero_division=0),
            "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
        }
    )
    assert compute(HammingLoss(), predictions, gold) == pytest.approx(hamming_loss(y_true, y_pred))


def test_precision_at_k_against_brute_force():
    _, gold = random_case()
    # random_case has tied scores (constant rows), where top-k order is arbitrary: use fresh ones
    predictions = torch.rand(50, 7, generator=torch.Generator().manual_seed(1))
    result = compute(PrecisionAtK(k=[1, 3, 7]), predictions, gold)
    for k in (1, 3, 7):
        top = predictions.argsort(dim=-1, descending=True)[:, :k]
        expected = sum(gold[i, top[i]].sum().item() / k for i in range(50)) / 50
        assert result[f"p@{k}"] == pytest.approx(expected)


# ---------------------------------------------------------------- errors and registration


@pytest.mark.parametrize("cls", ALL)
def test_shape_mismatch_raises(cls):
    with pytest.raises(ConfigurationError, match=r"\(3, 4\).*\(3, 5\)"):
        make(cls)(torch.rand(3, 4), torch.ones(3, 5))
    with pytest.raises(ConfigurationError):
        make(cls)(torch.rand(4), torch.ones(4))
    with pytest.raises(ConfigurationError, match="mask"):
        make(cls)(PREDICTIONS, GOLD, torch.ones(2, dtype=torch.bool))


def test_precision_at_k_errors():
    with pytest.raises(ConfigurationError, match="k=5"):
        PrecisionAtK(k=[1, 5])(PREDICTIONS, GOLD)
    with pytest.raises(ConfigurationError):
        PrecisionAtK(k=0)


@pytest.mark.parametrize(
    "name, cls",
    [
        ("example-f1", ExampleF1),
        ("micro-macro-f1", MultilabelMicroMacroF1),
        ("hamming-loss", HammingLoss),
        ("precision-at-k", PrecisionAtK),
    ],
)
def test_registered(name, cls):
    assert Metric.by_name(name) is cls
    extra = {"k": [1, 2]} if cls is PrecisionAtK else {"threshold": 0.3}
    assert isinstance(Metric.from_params(Params({"type": name, **extra})), cls)


# ---------------------------------------------------------------- distributed (2 CPU workers)


def _distributed_worker(rank, world_size, gpu_id, expected):
    predictions, gold = random_case()
    mask = torch.arange(50) % 3 != 0
    shard = slice(rank, None, world_size)
    for cls, value in expected:
        metric = make(cls)
        metric(predictions[shard], gold[shard], mask[shard])
        assert metric.get_metric(reset=True) == pytest.approx(value, abs=1e-12), cls.__name__


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_distributed_two_workers_match_one():
    predictions, gold = random_case()
    mask = torch.arange(50) % 3 != 0
    expected = [(cls, compute(make(cls), predictions, gold, mask)) for cls in ALL]
    device_ids = [-1, -1]
    # Like allennlp's run_distributed_test, but on a free port instead of the fixed 29500.
    mp.start_processes(
        init_process,
        args=(2, device_ids, _distributed_worker, (expected,), {}, "127.0.0.1", _free_port()),
        nprocs=2,
        start_method="fork",
    )
