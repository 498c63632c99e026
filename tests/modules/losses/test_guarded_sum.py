"""`weighted-sum` with an anchor: the other losses' gradient on the task-net's logits, guarded
example by example against the anchor's (issue #38).  Hand-computed cases on the 2-label fixture of
test_losses.py: energy `-s(p)` with `s(y) = y0 - 2 y1 + 0.75 y0 y1`, logits `(log 3, 0)`,
`p = (3/4, 1/2)`."""
import dataclasses
import math

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from seal.modules.losses import CrossEntropyLoss, EnergyLoss, Loss, WeightedSumLoss
from seal.modules.losses.task_losses import guard_gradient
from tests.modules.losses.test_losses import make_inputs


def logit_gradient(loss, inputs):
    (gradient,) = torch.autograd.grad(loss(inputs), inputs.task_logits)
    return gradient


def test_guard_removes_the_conflicting_part_then_caps_the_norm():
    gradient = torch.tensor([[-2.0, 1.0], [3.0, 4.0], [0.0, 1.0], [1.0, 1.0]])
    anchor = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    # row 0: conflicting part (-2, 0) removed, (0, 1) kept (norm 1 <= 1);
    # row 1: no conflict, norm 5 capped to 1; row 2: zero anchor, capped to 0;
    # row 3: no conflict, norm sqrt(2) <= 2 kept.
    expected = torch.tensor([[0.0, 1.0], [0.6, 0.8], [0.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(guard_gradient(gradient, anchor, 1.0), expected)
    uncapped = torch.tensor([[0.0, 1.0], [3.0, 4.0], [0.0, 1.0], [1.0, 1.0]])
    torch.testing.assert_close(guard_gradient(gradient, anchor, None), uncapped)


def test_guard_works_per_example_on_any_label_shape():
    gradient, anchor = torch.randn(3, 4, 5), torch.randn(3, 4, 5)
    guarded = guard_gradient(gradient, anchor, 0.5)
    for i in range(3):
        torch.testing.assert_close(guarded[i], guard_gradient(gradient[i:i + 1], anchor[i:i + 1], 0.5)[0])
    assert ((guarded * anchor).flatten(1).sum(1) >= -1e-6).all()
    assert (guarded.flatten(1).norm(dim=1) <= 0.5 * anchor.flatten(1).norm(dim=1) + 1e-6).all()


def test_the_value_is_the_plain_weighted_sum():
    guarded = WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()], [2.0, 0.5], anchor=1)
    plain = WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()], [2.0, 0.5])
    assert guarded(make_inputs([[0, 1]])).item() == pytest.approx(plain(make_inputs([[0, 1]])).item(), abs=1e-7)


def test_the_gradient_by_hand():
    """Gold (0, 1).  Cross-entropy per decision: d/dz = (p - y) / 2 = (3/8, -1/4).
    Energy -s(p): ds/dp = (1 + 0.75 p1, -2 + 0.75 p0) = (1.375, -1.4375), times p(1-p) =
    (3/16, 1/4): d(-s)/dz = (-0.2578125, 0.359375).  Its inner product with the cross-entropy's is
    negative, so its component along (3/8, -1/4) is removed, then its norm capped at the
    cross-entropy's."""
    ce = torch.tensor([0.375, -0.25])
    energy = torch.tensor([-1.375 * 3 / 16, 1.4375 / 4])
    torch.testing.assert_close(logit_gradient(CrossEntropyLoss(), make_inputs([[0, 1]]))[0], ce)
    torch.testing.assert_close(logit_gradient(EnergyLoss(), make_inputs([[0, 1]]))[0], energy)
    orthogonal = energy - (energy @ ce) / (ce @ ce) * ce
    capped = orthogonal * min(1.0, ce.norm().item() / orthogonal.norm().item())
    loss = WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()], anchor=1)
    torch.testing.assert_close(logit_gradient(loss, make_inputs([[0, 1]]))[0], ce + capped)


def test_every_example_descends_the_anchor():
    torch.manual_seed(0)
    logits = (3 * torch.randn(16, 2)).requires_grad_(True)
    labels = torch.randint(0, 2, (16, 2)).tolist()
    inputs = make_inputs(labels, task_logits=logits)
    ce = logit_gradient(CrossEntropyLoss(), inputs)
    plain = logit_gradient(WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()], [10.0, 1.0]), inputs)
    guarded = logit_gradient(WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()], [10.0, 1.0], anchor=1), inputs)
    assert ((plain * ce).sum(1) < 0).any(), "the fixture must have examples where the plain sum ascends"
    assert ((guarded * ce).sum(1) > 0).all()
    assert ((guarded - ce).norm(dim=1) <= ce.norm(dim=1) + 1e-6).all()


def test_without_gradient_it_is_the_plain_sum():
    """Validation computes the task-net loss without gradient: no guard, no error."""
    loss = WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()], anchor=1)
    with torch.no_grad():
        value = loss(make_inputs([[0, 1]])).item()
    assert value == pytest.approx(-(0.75 - 1.0 + 0.75 * 0.375) + 1.5 * math.log(2.0), abs=1e-6)


@pytest.mark.parametrize(
    "weights, anchor, ratio, message",
    [([1.0, 1.0], 2, 1.0, "anchor 2"), ([1.0, 0.0], 1, 1.0, "anchor 1"), ([1.0, 1.0], 1, 0.0, "positive")],
)
def test_bad_guard_settings_are_refused(weights, anchor, ratio, message):
    with pytest.raises(ConfigurationError, match=message):
        WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()], weights, anchor=anchor, max_gradient_ratio=ratio)


def test_guard_from_params():
    loss = Loss.from_params(Params({"type": "weighted-sum", "losses": [{"type": "energy"}, {"type": "cross-entropy"}],
                                    "anchor": 1, "max_gradient_ratio": None}))
    assert loss.anchor == 1 and loss.max_gradient_ratio is None


def test_the_guard_ends_after_anchor_epochs():
    plain = WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()])
    loss = WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()], anchor=1, anchor_epochs=2)
    young, grown = (dataclasses.replace(make_inputs([[0, 1]]), phase_epoch=epoch) for epoch in (1, 2))
    assert not torch.allclose(logit_gradient(loss, young), logit_gradient(plain, make_inputs([[0, 1]])))
    torch.testing.assert_close(logit_gradient(loss, grown), logit_gradient(plain, make_inputs([[0, 1]])))
