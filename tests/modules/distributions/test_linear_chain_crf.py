"""LinearChainCRF against brute-force enumeration of every tag sequence of short chains."""
import itertools
import math

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.distributions import Categorical, LinearChainCRF, allowed_moves
from seal.modules.distributions.linear_chain_crf import _backward_scan, _forward_scan

LENGTHS = [4, 2, 1]  # a full, a padded and a single-position sequence
NUM_TAGS = 3


def potentials(per_position=False, start_end=True, lengths=LENGTHS, num_tags=NUM_TAGS, scale=1.0, seed=0):
    """Random float64 potentials for `lengths` (prefix mask) as LinearChainCRF keyword arguments."""
    generator = torch.Generator().manual_seed(seed)
    batch, length = len(lengths), max(lengths)

    def normal(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    shape = (batch, length - 1, num_tags, num_tags) if per_position else (num_tags, num_tags)
    mask = torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]
    kwargs = {"unary": normal(batch, length, num_tags), "transitions": scale * normal(*shape), "mask": mask}
    if start_end:
        kwargs.update(start=normal(num_tags), end=normal(num_tags))
    return kwargs


def sequence_score(kwargs, b, tags):
    """The score of tag indices `tags` (one per real position) of sequence `b`, term by term."""
    unary, transitions = kwargs["unary"], kwargs["transitions"]
    total = sum(unary[b, t, tag].item() for t, tag in enumerate(tags))
    for t in range(len(tags) - 1):
        matrix = transitions if transitions.dim() == 2 else transitions[b, t]
        total += matrix[tags[t], tags[t + 1]].item()
    if "start" in kwargs:
        total += kwargs["start"][tags[0]].item() + kwargs["end"][tags[-1]].item()
    return total


def enumerate_sequences(kwargs, b):
    """Every tag sequence of sequence `b` with its score: `[(tags, score)]`."""
    length, num_tags = int(kwargs["mask"][b].sum()), kwargs["unary"].size(-1)
    return [(tags, sequence_score(kwargs, b, tags)) for tags in itertools.product(range(num_tags), repeat=length)]


def exact(kwargs, b):
    """`(log Z, [(tags, probability)])` of sequence `b` by enumeration."""
    sequences = enumerate_sequences(kwargs, b)
    log_z = torch.logsumexp(torch.tensor([score for _, score in sequences], dtype=torch.float64), 0).item()
    return log_z, [(tags, math.exp(score - log_z)) for tags, score in sequences]


def brute_marginals(kwargs, b):
    """Node `(T, K)` and pairwise `(T-1, K, K)` marginals of sequence `b` by enumeration."""
    length, num_tags = kwargs["unary"].shape[1:]
    nodes = torch.zeros(length, num_tags, dtype=torch.float64)
    pairs = torch.zeros(max(length - 1, 0), num_tags, num_tags, dtype=torch.float64)
    for tags, p in exact(kwargs, b)[1]:
        for t, tag in enumerate(tags):
            nodes[t, tag] += p
            if t + 1 < len(tags):
                pairs[t, tag, tags[t + 1]] += p
    return nodes, pairs


VARIANTS = [
    pytest.param(dict(per_position=False, start_end=True), id="shared"),
    pytest.param(dict(per_position=False, start_end=False), id="shared-no-start-end"),
    pytest.param(dict(per_position=True, start_end=True), id="per-position"),
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_sum_product_quantities_match_enumeration(variant):
    kwargs = potentials(**variant)
    crf = LinearChainCRF(**kwargs)
    marginals, pairwise, entropy = crf.marginals(), crf.pairwise_marginals(), crf.entropy()
    fast_log_z = LinearChainCRF(**kwargs).log_partition()  # the custom autograd function
    for b in range(len(LENGTHS)):
        log_z, probabilities = exact(kwargs, b)
        nodes, pairs = brute_marginals(kwargs, b)
        assert fast_log_z[b].item() == pytest.approx(log_z, abs=1e-10)
        assert crf.log_partition()[b].item() == pytest.approx(log_z, abs=1e-10)
        torch.testing.assert_close(marginals[b], nodes, atol=1e-10, rtol=0)
        torch.testing.assert_close(pairwise[b], pairs, atol=1e-10, rtol=0)
        assert entropy[b].item() == pytest.approx(-sum(p * math.log(p) for _, p in probabilities), abs=1e-10)


@pytest.mark.parametrize("variant", VARIANTS)
def test_log_prob_of_one_hot_and_of_tag_indices_match_enumeration(variant):
    kwargs = potentials(**variant)
    crf = LinearChainCRF(**kwargs)
    length = kwargs["unary"].size(1)
    for b in range(len(LENGTHS)):
        log_z, probabilities = exact(kwargs, b)
        for tags, p in probabilities[:5]:
            padded = torch.tensor(list(tags) + [2] * (length - len(tags)))  # any index at padding
            all_tags = padded.expand(len(LENGTHS), -1)
            assert crf.log_prob_tags(all_tags)[b].item() == pytest.approx(math.log(p), abs=1e-10)
            one_hot = crf.one_hot(all_tags).unsqueeze(1)
            assert crf.log_prob(one_hot)[b, 0].item() == pytest.approx(math.log(p), abs=1e-10)


def test_score_of_relaxed_outputs_is_the_expectation_under_their_product():
    kwargs = potentials(lengths=[3, 2])
    crf = LinearChainCRF(**kwargs)
    q = torch.softmax(torch.randn(2, 1, 3, NUM_TAGS, dtype=torch.float64), -1)
    scores = crf.score(q)
    for b in range(2):
        expected = 0.0
        for tags, score in enumerate_sequences(kwargs, b):
            expected += math.prod(q[b, 0, t, tag].item() for t, tag in enumerate(tags)) * score
        assert scores[b, 0].item() == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("variant", VARIANTS)
def test_log_partition_gradient_is_the_marginals_and_passes_gradcheck(variant):
    kwargs = potentials(lengths=[3, 2], **variant)
    names = [name for name in ("unary", "transitions", "start", "end") if name in kwargs]
    inputs = [kwargs[name].clone().requires_grad_() for name in names]

    def log_z(*tensors):
        return LinearChainCRF(**dict(kwargs, **dict(zip(names, tensors)))).log_partition()

    assert torch.autograd.gradcheck(log_z, inputs)
    y = LinearChainCRF(**kwargs).sample(2, torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(
        lambda *tensors: LinearChainCRF(**dict(kwargs, **dict(zip(names, tensors)))).log_prob(y), inputs)
    unary = inputs[0]
    (grad,) = torch.autograd.grad(log_z(*inputs).sum(), unary)
    torch.testing.assert_close(grad, LinearChainCRF(**dict(kwargs, unary=unary)).marginals().detach())


def test_marginals_and_entropy_are_differentiable():
    kwargs = potentials(lengths=[3, 2])
    inputs = [kwargs["unary"].clone().requires_grad_(), kwargs["transitions"].clone().requires_grad_()]
    crf = lambda u, w: LinearChainCRF(**dict(kwargs, unary=u, transitions=w))  # noqa: E731
    assert torch.autograd.gradcheck(lambda u, w: crf(u, w).entropy(), inputs)
    assert torch.autograd.gradcheck(lambda u, w: crf(u, w).marginals(), inputs)


def test_zero_transitions_give_the_factorised_categorical():
    kwargs = potentials(start_end=False)
    kwargs["transitions"] = torch.zeros(NUM_TAGS, NUM_TAGS, dtype=torch.float64)
    crf, categorical = LinearChainCRF(**kwargs), Categorical(kwargs["unary"], kwargs["mask"])
    torch.testing.assert_close(crf.log_partition(), categorical.log_partition())
    torch.testing.assert_close(crf.marginals(), categorical.marginals())
    torch.testing.assert_close(crf.entropy(), categorical.entropy())


@pytest.mark.parametrize("variant", VARIANTS)
def test_viterbi_and_loss_augmented_viterbi_match_enumeration(variant):
    kwargs = potentials(**variant)
    crf = LinearChainCRF(**kwargs)
    tags, scores = crf.viterbi()
    gold = torch.tensor([[0, 1, 2, 0], [2, 2, 0, 0], [1, 0, 0, 0]])
    augmented = crf.loss_augmented_argmax(gold, weight=1.5).argmax(-1)
    for b, length in enumerate(LENGTHS):
        sequences = enumerate_sequences(kwargs, b)
        best, best_score = max(sequences, key=lambda s: s[1])
        assert tags[b, :length].tolist() == list(best) and scores[b].item() == pytest.approx(best_score)
        assert tags[b, length:].eq(0).all()
        hamming = lambda t: sum(x != g for x, g in zip(t, gold[b].tolist()))  # noqa: E731
        violating = max(sequences, key=lambda s: s[1] + 1.5 * hamming(s[0]))[0]
        assert augmented[b, :length].tolist() == list(violating)
    assert crf.argmax().argmax(-1).masked_select(kwargs["mask"]).tolist() == tags.masked_select(kwargs["mask"]).tolist()


def test_constrained_viterbi_matches_enumeration_of_legal_bioul_sequences():
    labels = {0: "O", 1: "B-A", 2: "I-A", 3: "L-A", 4: "U-A"}
    allowed, allowed_start, allowed_end = allowed_moves("BIOUL", labels)
    kwargs = potentials(lengths=[3, 2, 1], num_tags=5, seed=3)
    crf = LinearChainCRF(**kwargs, allowed_transitions=allowed, allowed_start=allowed_start, allowed_end=allowed_end)
    tags, scores = crf.viterbi()

    def legal(t):
        moves = all(allowed[a, b] for a, b in zip(t, t[1:]))
        return bool(allowed_start[t[0]] and allowed_end[t[-1]] and moves)

    for b, length in enumerate([3, 2, 1]):
        best, best_score = max((s for s in enumerate_sequences(kwargs, b) if legal(s[0])), key=lambda s: s[1])
        assert tags[b, :length].tolist() == list(best) and scores[b].item() == pytest.approx(best_score)
        assert legal(tags[b, :length].tolist())


@pytest.mark.parametrize("per_position", [False, True])
def test_sampling_frequencies_match_exact_probabilities(per_position):
    kwargs = potentials(per_position=per_position, lengths=[3, 2], num_tags=2, seed=5)
    num_samples = 20000
    samples = LinearChainCRF(**kwargs).sample(num_samples, torch.Generator().manual_seed(0))
    assert samples.shape == (2, num_samples, 3, 2) and samples[1, :, 2].eq(0).all()
    tags = samples.argmax(-1)
    for b, length in enumerate([3, 2]):
        _, probabilities = exact(kwargs, b)
        counts = {}
        for row in tags[b, :, :length].tolist():
            counts[tuple(row)] = counts.get(tuple(row), 0) + 1
        chi_square = sum((counts.get(t, 0) - num_samples * p) ** 2 / (num_samples * p) for t, p in probabilities)
        degrees = len(probabilities) - 1
        assert chi_square < degrees + 6 * math.sqrt(2 * degrees), (chi_square, counts)  # p < 1e-4 for df 3..7


@pytest.mark.parametrize("per_position", [False, True])
@pytest.mark.parametrize("updates", ["parallel", "alternating"])
def test_mean_field_matches_exact_marginals_on_a_weakly_coupled_chain(per_position, updates):
    kwargs = potentials(per_position=per_position, scale=0.05)
    crf = LinearChainCRF(**kwargs)
    q = crf.mean_field_marginals(iterations=20, updates=updates)
    torch.testing.assert_close(q, crf.marginals(), atol=2e-3, rtol=0)
    strong = LinearChainCRF(**potentials(per_position=per_position, scale=2.0))
    assert (strong.mean_field_marginals(iterations=20, updates=updates) - strong.marginals()).abs().max() > 2e-3


def test_alternating_mean_field_lowers_the_kl_divergence_at_every_iteration():
    kwargs = potentials(scale=1.5, seed=2)
    crf = LinearChainCRF(**kwargs)

    def kl(q):  # KL(q || p) = -H(q) - E_q[log p]: log_prob of a relaxed output is the expectation
        return -Categorical(q.clamp_min(1e-300).log(), kwargs["mask"]).entropy() - crf.log_prob(q.unsqueeze(1))[:, 0]

    divergences = torch.stack([kl(crf.mean_field_marginals(k, updates="alternating")) for k in range(6)])
    assert (divergences >= -1e-12).all()
    assert (divergences[1:] <= divergences[:-1] + 1e-12).all()


def test_float32_steps_near_underflow_take_the_exact_path():
    # Tag 1 at position 1 is reached only from a tag 100 nats below the best: the scaled sum
    # underflows in float32, and position 2 then makes that path the likely one.
    unary = torch.tensor([[[0.0, -100.0], [-1000.0, 0.0], [0.0, 0.0]]])
    transitions = torch.tensor([[0.0, -100.0], [-100.0, 0.0]])
    crf32 = LinearChainCRF(unary, transitions.clone().requires_grad_())
    kwargs = {"unary": unary.double(), "transitions": transitions.double(), "mask": torch.ones(1, 3, dtype=torch.bool)}
    assert crf32.log_partition().item() == pytest.approx(exact(kwargs, 0)[0], abs=1e-4)
    crf32.log_partition().sum().backward()
    torch.testing.assert_close(crf32.transitions.grad.double(), brute_marginals(kwargs, 0)[1].sum(0), atol=1e-6,
                               rtol=0)
    torch.testing.assert_close(crf32.marginals()[0].double(), brute_marginals(kwargs, 0)[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("per_position", [False, True])
def test_scaled_and_exact_recursions_agree(per_position):
    kwargs = potentials(per_position=per_position, lengths=[4, 3, 1], scale=3.0)
    args = (kwargs["unary"], kwargs["transitions"])
    for scan, boundary in ((_forward_scan, kwargs["start"]), (_backward_scan, kwargs["end"])):
        fast = scan(*args, boundary, kwargs["mask"])
        torch.testing.assert_close(fast, scan(*args, boundary, kwargs["mask"], exact=True))


def test_forbidden_moves_as_minus_infinity():
    kwargs = potentials(start_end=False, lengths=[4, 3])
    kwargs["transitions"][0, 1] = -math.inf
    crf = LinearChainCRF(**dict(kwargs, transitions=kwargs["transitions"].clone().requires_grad_()))
    log_z = crf.log_partition()
    log_z.sum().backward()
    for b in range(2):
        assert log_z[b].item() == pytest.approx(exact(kwargs, b)[0], abs=1e-10)
    assert torch.isfinite(crf.transitions.grad).all() and crf.transitions.grad[0, 1] == 0
    assert crf.log_prob_tags(torch.tensor([[0, 1, 0, 0], [2, 2, 2, 0]]))[0] == -math.inf
    assert crf.log_prob(crf.one_hot(torch.tensor([[0, 1, 0, 0], [2, 2, 2, 0]])).unsqueeze(1))[0, 0] == -math.inf
    assert crf.entropy().isfinite().all()


@pytest.mark.parametrize("per_position", [False, True])
def test_values_at_padding_are_ignored(per_position):
    kwargs = potentials(per_position=per_position)
    garbage = {"unary": kwargs["unary"].clone(), "transitions": kwargs["transitions"].clone()}
    garbage["unary"][1, 2:] = math.nan
    garbage["unary"][2, 1:] = -math.inf
    if per_position:
        garbage["transitions"][1, 1:] = math.nan
    inputs = {name: value.requires_grad_() for name, value in garbage.items()}
    crf, clean = LinearChainCRF(**dict(kwargs, **inputs)), LinearChainCRF(**kwargs)
    torch.testing.assert_close(crf.log_partition(), clean.log_partition())
    torch.testing.assert_close(crf.marginals(), clean.marginals())
    torch.testing.assert_close(crf.entropy(), clean.entropy())
    assert torch.equal(crf.viterbi()[0], clean.viterbi()[0])
    (crf.log_partition() + crf.entropy()).sum().backward()
    assert all(torch.isfinite(value.grad).all() for value in inputs.values())
    assert inputs["unary"].grad[1, 2:].eq(0).all() and inputs["unary"].grad[2, 1:].eq(0).all()


def test_all_sequences_of_length_one():
    kwargs = potentials(per_position=True, lengths=[1, 1])
    crf = LinearChainCRF(**kwargs)
    for b in range(2):
        assert crf.log_partition()[b].item() == pytest.approx(exact(kwargs, b)[0], abs=1e-10)
    torch.testing.assert_close(crf.marginals()[:, 0], torch.softmax(kwargs["unary"][:, 0] + kwargs["start"]
                                                                     + kwargs["end"], -1))
    assert crf.pairwise_marginals().shape == (2, 0, NUM_TAGS, NUM_TAGS)
    assert crf.sample(3).shape == (2, 3, 1, NUM_TAGS) and crf.entropy().shape == (2,)


def test_shapes_and_masks_are_checked():
    kwargs = potentials()
    with pytest.raises(ConfigurationError, match="transitions of shape"):
        LinearChainCRF(**dict(kwargs, transitions=torch.zeros(2, 2)))
    with pytest.raises(ConfigurationError, match="non-empty prefix"):
        LinearChainCRF(**dict(kwargs, mask=torch.tensor([[True, False, True, False]] * 3)))
    with pytest.raises(ConfigurationError, match="outputs y of shape"):
        LinearChainCRF(**kwargs).log_prob(torch.zeros(3, 1, 4, 2))
    with pytest.raises(ConfigurationError, match="updates"):
        LinearChainCRF(**kwargs).mean_field_marginals(updates="sequential")
