"""Losses on tag sequences (`sequence-tags` output space).

Hand-computable fixture: one sentence of 3 tokens over 3 tags, gold tags (2, 0, 1).

Task-net logits z_0 = (0, log 2, log 5), z_1 = (log 2, 0, 0), z_2 = (0, 0, 0):

    p_0 = (1/8, 2/8, 5/8),  p_1 = (1/2, 1/4, 1/4),  p_2 = (1/3, 1/3, 1/3)
    q(y) = prod_i p_i[y_i]:  q(2,0,1) = q(2,0,0) = 5/8 * 1/2 * 1/3 = 5/48,  q(0,1,2) = 1/96

Score-net: local logits L plus a `linear-chain` score with transitions W (only W[0,1] = 1 and
W[2,0] = 2), start scores (0, 0, 1) and end scores (1/2, 0, 0):

    L = [[1, 0, 0], [0, 0, 2], [0, -1, 0]]
    s(y) = sum_i <L_i, y_i> + sum_i y_i^T W y_{i+1} + <start, y_0> + <end, y_last>

    s(2,0,1) = (0 + 0 - 1) + (W20 + W01 = 3) + 1 + 0   = 3      (the gold)
    s(2,0,0) = (0 + 0 + 0) + (W20 + W00 = 2) + 1 + 1/2 = 3.5
    s(0,1,2) = (1 + 0 + 0) + (W01 + W12 = 1) + 0 + 0   = 2
    s(p) = local 1/8 + 2/4 - 1/3 + pairs (1/32 + 2 * 5/16) + (1/6 + 2/12) + start 5/8 + end 1/6
         = 199/96

Token accuracy of p against the gold: (5/8 + 1/2 + 1/3) / 3 = 35/72, so Delta(p) = 37/72.

Padded batch: the fixture plus a sentence of 2 real tokens (gold (0, 2)) and one padded position
that carries garbage logits:

    p'_0 = (3/5, 1/5, 1/5), p'_1 = (1/4, 1/4, 1/2);  L'_0 = (0, 1, 0), L'_1 = (1, 0, 0)
    s(p') = 1/5 + 1/4 + pair (3/5 * 1/4 + 2 * 1/5 * 1/4 = 1/4) + start 1/5 + end (1/2 * 1/4) = 41/40

(the end score reads the last *real* position, 1, not the padded position 2).
"""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from allennlp.common.checks import ConfigurationError

from seal.modules.losses import (
    CrossEntropyLoss,
    DVNLoss,
    EnergyLoss,
    LossInputs,
    MarginLoss,
    NCERankingLoss,
    NegativeEntropyLoss,
    WeightedSumLoss,
)
from seal.modules.oracles import SpanF1Oracle, TokenAccuracyOracle
from seal.modules.output_spaces import SequenceTagsOutputSpace
from seal.modules.samplers import (
    DiscreteSampler,
    GradientBasedInference,
    GroundTruthSampler,
    MultiSampler,
    TaskNetSampler,
)
from seal.modules.score_nets import ScoreNN
from seal.modules.structured_scores import LinearChainScore, SelfAttentionSequenceScore, SkipChainScore
from tests.modules.losses.test_losses import FixedSampler
from tests.modules.output_spaces.test_sequence import bio_vocab
from tests.modules.stubs import FixedTaskNN, label_vocab

SPACE = SequenceTagsOutputSpace()
LOG2, LOG5 = math.log(2.0), math.log(5.0)

TASK_LOGITS = [[0.0, LOG2, LOG5], [LOG2, 0.0, 0.0], [0.0, 0.0, 0.0]]
GOLD = [2, 0, 1]
SCORE_LOGITS = [[1.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, -1.0, 0.0]]
TRANSITIONS = [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0]]
START, END = [0.0, 0.0, 1.0], [0.5, 0.0, 0.0]

S_P = 199 / 96  # s(p) of the fixture
S_GOLD = 3.0
DELTA_P = 37 / 72  # 1 - token accuracy of p
LOG_Q_GOLD = math.log(5 / 48)
CE_FIXTURE = -(math.log(5 / 8) + math.log(1 / 2) + math.log(1 / 3)) / 3

# Second sentence of the padded batch: 2 real tokens, the third position is padding (garbage).
PADDED_TASK_LOGITS = [[math.log(3.0), 0.0, 0.0], [0.0, 0.0, LOG2], [50.0, -50.0, 7.0]]
PADDED_GOLD = [0, 2, 1]  # the last tag is padding
PADDED_SCORE_LOGITS = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [100.0, -100.0, 100.0]]
S_P_PADDED = 41 / 40
CE_PADDED = -(math.log(3 / 5) + math.log(1 / 2)) / 2
BATCH_MASK = [[True, True, True], [True, True, False]]


def one_hot(tags, num_tags=3):
    return F.one_hot(torch.tensor(tags), num_tags).to(torch.get_default_dtype())


def chain_score_nn(score_logits, mask, num_tags=3):
    """The fixture's score-net (linear-chain with the transitions, start and end above)."""
    chain = LinearChainScore(label_vocab(num_tags))
    with torch.no_grad():
        chain.transitions.copy_(torch.tensor(TRANSITIONS))
        chain.start_scores.copy_(torch.tensor(START))
        chain.end_scores.copy_(torch.tensor(END))
    return ScoreNN(FixedTaskNN(torch.tensor(score_logits), mask=mask), chain)


def sequence_inputs(task_logits, tags, mask, score_nn=None):
    """LossInputs for tag sequences: gold tag indices are encoded as the model does."""
    task_logits = torch.as_tensor(task_logits, dtype=torch.get_default_dtype())
    tags = torch.as_tensor(tags)
    mask = torch.as_tensor(mask, dtype=torch.bool)
    labels = SPACE.encode_labels(tags, mask, task_logits.size(-1))
    score = score_nn.bind({}) if score_nn is not None else None
    return LossInputs(output_space=SPACE, task_logits=task_logits, labels=labels, mask=mask, score=score)


def fixture_inputs(with_score=True):
    mask = torch.ones(1, 3, dtype=torch.bool)
    score_nn = chain_score_nn([SCORE_LOGITS], mask) if with_score else None
    logits = torch.tensor([TASK_LOGITS], requires_grad=True)
    return sequence_inputs(logits, [GOLD], mask, score_nn)


def padded_batch_inputs():
    mask = torch.tensor(BATCH_MASK)
    score_nn = chain_score_nn([SCORE_LOGITS, PADDED_SCORE_LOGITS], mask)
    logits = torch.tensor([TASK_LOGITS, PADDED_TASK_LOGITS], requires_grad=True)
    return sequence_inputs(logits, [GOLD, PADDED_GOLD], mask, score_nn)


def bce(logit, target):
    sig = 1 / (1 + math.exp(-logit))
    return -(target * math.log(sig) + (1 - target) * math.log(1 - sig))


def test_hand_computed_scores_of_the_fixture():
    score = fixture_inputs().score
    y = torch.stack([one_hot(GOLD), one_hot([2, 0, 0]), one_hot([0, 1, 2])]).unsqueeze(0)
    torch.testing.assert_close(score(y), torch.tensor([[S_GOLD, 3.5, 2.0]]))
    p = torch.softmax(torch.tensor(TASK_LOGITS), -1)
    torch.testing.assert_close(p, torch.tensor([[1 / 8, 2 / 8, 5 / 8], [1 / 2, 1 / 4, 1 / 4], [1 / 3] * 3]))
    assert score(p[None, None]).item() == pytest.approx(S_P, abs=1e-6)
    batch = padded_batch_inputs()
    p_batch = torch.softmax(batch.task_logits, -1) * batch.mask[..., None]
    torch.testing.assert_close(batch.score(p_batch.unsqueeze(1)), torch.tensor([[S_P], [S_P_PADDED]]))


# ---- cross-entropy -----------------------------------------------------------------------------
def test_cross_entropy_by_hand():
    """Token cross-entropy: -sum_i log p_i[gold_i] over the 3 tokens, divided by 3."""
    loss = CrossEntropyLoss()(fixture_inputs(with_score=False))
    assert loss.item() == pytest.approx(CE_FIXTURE, abs=1e-6)
    assert CE_FIXTURE == pytest.approx(0.753921, abs=1e-6)


def test_cross_entropy_of_a_padded_batch_is_the_mean_of_per_sentence_token_means():
    """The normalisation of `cross-entropy`: each sentence's summed token NLL is divided by *its*
    number of real tokens, then sentences are averaged -- (CE_A / 3 + CE_B / 2) / 2 with the sums
    CE_A, CE_B -- not the mean over all 5 real tokens of the batch (which would be log 2 here)."""
    loss = CrossEntropyLoss()(padded_batch_inputs()).item()
    assert loss == pytest.approx((CE_FIXTURE + CE_PADDED) / 2, abs=1e-6)
    assert loss == pytest.approx(0.677954, abs=1e-6)
    assert abs(loss - math.log(2.0)) > 0.01  # the per-token mean over the batch differs


def test_cross_entropy_reductions_of_a_padded_batch_by_hand():
    """The sentences' summed NLLs are 3 * CE_FIXTURE and 2 * CE_PADDED over 3 + 2 real tokens:
    `decision` is their sum over 5 (log 2 here), `sum` their sum, `instance` the default above."""
    sums = 3 * CE_FIXTURE + 2 * CE_PADDED
    assert sums / 5 == pytest.approx(math.log(2.0), abs=1e-9)
    losses = {reduction: CrossEntropyLoss(reduction)(padded_batch_inputs()).item()
              for reduction in ("instance", "decision", "sum")}
    assert losses == pytest.approx({"instance": (CE_FIXTURE + CE_PADDED) / 2, "decision": sums / 5, "sum": sums},
                                   abs=1e-6)


def test_cross_entropy_refuses_an_unknown_reduction():
    with pytest.raises(ConfigurationError, match="reduction must be one of"):
        CrossEntropyLoss("mean")


# ---- negative entropy --------------------------------------------------------------------------
def entropy(p):
    return -sum(x * math.log(x) for x in p)


def test_negative_entropy_by_hand():
    """-(H(p_0) + H(p_1) + H(p_2)) / 3 tokens, with H(p_1) = 1.5 log 2 and H(p_2) = log 3."""
    expected = -(entropy([1 / 8, 2 / 8, 5 / 8]) + 1.5 * LOG2 + math.log(3.0)) / 3
    assert NegativeEntropyLoss()(fixture_inputs(with_score=False)).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(-1.012863, abs=1e-6)


def test_negative_entropy_of_a_padded_batch_ignores_the_padded_position():
    alone_a = -(entropy([1 / 8, 2 / 8, 5 / 8]) + 1.5 * LOG2 + math.log(3.0)) / 3
    alone_b = -(entropy([3 / 5, 1 / 5, 1 / 5]) + 1.5 * LOG2) / 2
    loss = NegativeEntropyLoss()(padded_batch_inputs()).item()
    assert loss == pytest.approx((alone_a + alone_b) / 2, abs=1e-6)


def test_energy_plus_negative_entropy_is_the_kl_to_the_score_nets_crf_by_enumeration():
    """With the fixture's linear-chain score-net read as a CRF, p_s(y) = exp(s(y)) / Z, the
    per-token free energy `energy(normalize) + negative-entropy` equals
    (KL(q || p_s) - log Z) / 3, q the task-net's factorised distribution: both sides by brute force
    over the 27 tag sequences."""
    inputs = fixture_inputs()
    p = torch.softmax(torch.tensor(TASK_LOGITS), -1)
    sequences = list(itertools.product(range(3), repeat=3))
    y = torch.stack([one_hot(list(tags)) for tags in sequences]).unsqueeze(0)
    scores = inputs.score(y)[0].double()
    q = torch.tensor([float(p[0, a] * p[1, b] * p[2, c]) for a, b, c in sequences], dtype=torch.float64)
    log_z = torch.logsumexp(scores, 0)
    kl = (q * (q.log() - (scores - log_z))).sum()
    free_energy = WeightedSumLoss([EnergyLoss(normalize=True), NegativeEntropyLoss()])(inputs)
    assert free_energy.item() == pytest.approx(((kl - log_z) / 3).item(), abs=1e-5)


def test_negative_entropy_gradient_flattens_the_task_net():
    """d(-H)/dz_k = p_k (log p_k - sum_j p_j log p_j) per token: zero at the uniform third token,
    and a descent step moves the first token towards uniform."""
    inputs = fixture_inputs(with_score=False)
    NegativeEntropyLoss()(inputs).backward()
    gradient = inputs.task_logits.grad[0]
    p0 = torch.tensor([1 / 8, 2 / 8, 5 / 8])
    expected = p0 * (p0.log() - (p0 * p0.log()).sum()) / 3
    torch.testing.assert_close(gradient[0], expected)
    torch.testing.assert_close(gradient[2], torch.zeros(3), atol=1e-7, rtol=0)
    assert gradient[0, 2] > 0 > gradient[0, 0]  # the likeliest tag loses mass, the rarest gains it


# ---- energy ------------------------------------------------------------------------------------
def test_energy_is_minus_the_linear_chain_score_of_the_task_probabilities():
    assert EnergyLoss()(fixture_inputs()).item() == pytest.approx(-S_P, abs=1e-6)
    assert EnergyLoss(normalize=True)(fixture_inputs()).item() == pytest.approx(-S_P / 3, abs=1e-6)


def test_energy_of_a_padded_batch_by_hand():
    batch = padded_batch_inputs()
    assert EnergyLoss()(batch).item() == pytest.approx(-(S_P + S_P_PADDED) / 2, abs=1e-6)
    # normalize divides each sentence by its own number of real tokens (3 and 2)
    normalized = EnergyLoss(normalize=True)(batch).item()
    assert normalized == pytest.approx(-(S_P / 3 + S_P_PADDED / 2) / 2, abs=1e-6)


def test_cost_augmented_energy_adds_the_normalised_hamming_cost():
    loss = EnergyLoss(cost_augmented=TokenAccuracyOracle())(fixture_inputs())
    assert loss.item() == pytest.approx(-(S_P + DELTA_P), abs=1e-6)


def test_weighted_sum_of_energy_and_cross_entropy():
    loss = WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()], [1.0, 0.5])(fixture_inputs())
    assert loss.item() == pytest.approx(-S_P + 0.5 * CE_FIXTURE, abs=1e-6)


def test_task_losses_give_no_gradient_to_padded_logits():
    for loss in [CrossEntropyLoss(), EnergyLoss(), EnergyLoss(normalize=True)]:
        batch = padded_batch_inputs()
        loss(batch).backward()
        grad = batch.task_logits.grad
        assert torch.all(grad[1, 2] == 0)
        assert grad[:, :2].abs().sum() > 0


# ---- NCE ranking -------------------------------------------------------------------------------
def test_nce_ranking_loss_by_hand_with_fixed_samples():
    loss = NCERankingLoss(num_samples=2)
    samples = torch.stack([one_hot([2, 0, 0]), one_hot([0, 1, 2])]).unsqueeze(0)
    loss.sampler = FixedSampler(samples.tolist(), [[math.log(5 / 48), math.log(1 / 96)]])
    # r(y) = s(y) - log q(y): the gold first (log q computed by the loss), then the samples
    r = [S_GOLD - LOG_Q_GOLD, 3.5 - math.log(5 / 48), 2.0 - math.log(1 / 96)]
    expected = -math.log(math.exp(r[0]) / sum(math.exp(r_k) for r_k in r))
    assert loss(fixture_inputs()).item() == pytest.approx(expected, abs=1e-5)
    assert expected == pytest.approx(1.844908, abs=1e-5)


def test_nce_ranking_loss_with_real_sampling_on_saturated_logits():
    """Logits +-30 make the task-net deterministic: every sample equals the argmax sequence
    (log q ~ 0), which is also the gold, so r is the same for gold and K samples: loss = log(K + 1).
    The padded position's logits favour another tag and must not matter."""
    logits = torch.full((2, 3, 3), -30.0)
    gold = [[2, 0, 1], [1, 1, 0]]
    for b, tags in enumerate(gold):
        for i, tag in enumerate(tags):
            logits[b, i, tag] = 30.0
    logits[1, 2] = torch.tensor([-1e4, 1e4, 0.0])
    mask = torch.tensor(BATCH_MASK)
    score_nn = chain_score_nn([SCORE_LOGITS, PADDED_SCORE_LOGITS], mask)
    torch.manual_seed(0)
    loss = NCERankingLoss(num_samples=4)(sequence_inputs(logits, gold, mask, score_nn))
    assert loss.item() == pytest.approx(math.log(5.0), abs=1e-5)


# ---- margin (structured SVM) -------------------------------------------------------------------
def test_margin_loss_with_token_accuracy_by_hand():
    # samples (2,0,0): s = 3.5, accuracy 2/3 -> v = 3.5 - 3 + 1/3 = 5/6
    #         (0,1,2): s = 2,   accuracy 0   -> v = 2 - 3 + 1 = 0
    samples = torch.stack([one_hot([2, 0, 0]), one_hot([0, 1, 2])]).unsqueeze(0)
    sampler = FixedSampler(samples.tolist())
    loss = MarginLoss(sampler=sampler, oracle=TokenAccuracyOracle())(fixture_inputs())
    assert loss.item() == pytest.approx(5 / 6, abs=1e-6)
    perceptron = MarginLoss(sampler=sampler, oracle=TokenAccuracyOracle(), perceptron=True)
    assert perceptron(fixture_inputs()).item() == pytest.approx(0.5, abs=1e-6)


def test_margin_loss_with_the_task_net_sample_by_hand():
    # v = s(p) - s(gold) + scale * Delta(p) = 199/96 - 3 + scale * 37/72:
    # -119/288 (hinge -> 0) at scale 1, 29/288 at scale 2
    assert S_P - S_GOLD + DELTA_P == pytest.approx(-119 / 288)
    loss = MarginLoss(oracle=TokenAccuracyOracle())(fixture_inputs())
    assert loss.item() == 0.0
    loss = MarginLoss(oracle=TokenAccuracyOracle(), margin_scale=2.0)(fixture_inputs())
    assert loss.item() == pytest.approx(29 / 288, abs=1e-6)


def test_margin_loss_is_zero_for_the_gold_sample():
    loss = MarginLoss(sampler=GroundTruthSampler(), oracle=TokenAccuracyOracle())(padded_batch_inputs())
    assert loss.item() == 0.0


# ---- DVN ---------------------------------------------------------------------------------------
def test_dvn_loss_by_hand_with_token_accuracy():
    # samples p (s = 199/96, target 35/72) and the gold (s = 3, target 1)
    loss = DVNLoss(sampler=MultiSampler([TaskNetSampler(), GroundTruthSampler()]), oracle=TokenAccuracyOracle())
    expected = (bce(S_P, 35 / 72) + bce(S_GOLD, 1.0)) / 2
    assert loss(fixture_inputs()).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.616173, abs=1e-6)


# ---- masking: padded batches against the sentences alone ---------------------------------------
NUM_TAGS = 4  # the tags of `bio_vocab`: O, B-PER, I-PER, B-LOC
LENGTHS = [5, 3]
MAX_LEN = max(LENGTHS)
NUM_FIXED = 3  # fixed samples per sentence


def _global_score(name):
    vocab = bio_vocab()
    if name is None:
        return None
    if name == "linear-chain":
        score = LinearChainScore(vocab)
    elif name == "skip-chain":
        score = SkipChainScore(vocab, order=2)
    else:
        score = SelfAttentionSequenceScore(vocab, embedding_dim=8, num_heads=2, feedforward_dim=16)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-zero weights, so that the global term matters
        for parameter in score.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return score


class MaskingCase:
    """A batch of two sentences of lengths 5 and 3 (the second padded to 5) over 4 tags, random
    task-net and score-net logits, and fixed samples; `part(b)` is sentence b alone without
    padding, `corrupted()` the batch with garbage (large values) at every padded position of the
    task logits, the score-net logits, the gold tags and the fixed samples."""

    def __init__(self, global_score_name):
        generator = torch.Generator().manual_seed(0)
        self.task_logits = 2 * torch.randn(2, MAX_LEN, NUM_TAGS, generator=generator)
        self.score_logits = torch.randn(2, MAX_LEN, NUM_TAGS, generator=generator)
        self.tags = torch.randint(NUM_TAGS, (2, MAX_LEN), generator=generator)
        self.mask = torch.arange(MAX_LEN)[None, :] < torch.tensor(LENGTHS)[:, None]
        sample_tags = torch.randint(NUM_TAGS, (2, NUM_FIXED, MAX_LEN), generator=generator)
        self.samples = F.one_hot(sample_tags, NUM_TAGS).float() * self.mask[:, None, :, None]
        # log q of the fixed samples, summed over the real positions only
        log_p = torch.log_softmax(self.task_logits, -1)
        self.log_q = torch.stack(
            [
                torch.stack(
                    [log_p[b, :length].gather(-1, sample_tags[b, k, :length, None]).sum() for k in range(NUM_FIXED)]
                )
                for b, length in enumerate(LENGTHS)
            ]
        )
        self.global_score = _global_score(global_score_name)

    def _inputs(self, task_logits, score_logits, tags, mask, samples, log_q):
        score_nn = ScoreNN(FixedTaskNN(score_logits, mask=mask), self.global_score)
        inputs = sequence_inputs(task_logits, tags, mask, score_nn)
        return inputs, FixedSampler(samples.tolist(), log_q.tolist())

    def batch(self):
        return self._inputs(self.task_logits, self.score_logits, self.tags, self.mask, self.samples, self.log_q)

    def part(self, b):
        n = LENGTHS[b]
        return self._inputs(
            self.task_logits[b : b + 1, :n],
            self.score_logits[b : b + 1, :n],
            self.tags[b : b + 1, :n],
            torch.ones(1, n, dtype=torch.bool),
            self.samples[b : b + 1, :, :n],
            self.log_q[b : b + 1],
        )

    def corrupted(self):
        padding = ~self.mask
        generator = torch.Generator().manual_seed(2)
        task_logits, score_logits = self.task_logits.clone(), self.score_logits.clone()
        task_logits[padding] = 1e4 * torch.randn(int(padding.sum()), NUM_TAGS, generator=generator)
        score_logits[padding] = 1e4 * torch.randn(int(padding.sum()), NUM_TAGS, generator=generator)
        tags = self.tags.clone()
        tags[padding] = (tags[padding] + 1) % NUM_TAGS
        samples = self.samples.clone()
        samples[padding[:, None].expand(-1, NUM_FIXED, -1)] = 1e3 * torch.randn(
            int(padding.sum()) * NUM_FIXED, NUM_TAGS, generator=generator
        )
        return self._inputs(task_logits, score_logits, tags, self.mask, samples, self.log_q)


def _deterministic_loss(name, fixed_sampler):
    accuracy = TokenAccuracyOracle()
    if name == "cross-entropy":
        return CrossEntropyLoss()
    if name == "energy":
        return EnergyLoss()
    if name == "energy-normalized":
        return EnergyLoss(normalize=True)
    if name == "negative-entropy":
        return NegativeEntropyLoss()
    if name == "energy-cost-augmented":
        return EnergyLoss(cost_augmented=accuracy)
    if name == "margin-task-net":
        return MarginLoss(oracle=accuracy, margin_scale=10.0)
    if name == "margin-fixed-samples":
        return MarginLoss(sampler=fixed_sampler, oracle=accuracy, margin_scale=10.0)
    if name == "margin-cost-augmented-gbi":
        gbi = GradientBasedInference(num_steps=5, step_size=0.5, cost_augmented=accuracy)
        return MarginLoss(sampler=gbi, oracle=accuracy)
    if name == "nce-fixed-samples":
        loss = NCERankingLoss(num_samples=NUM_FIXED)
        loss.sampler = fixed_sampler
        return loss
    sampler = MultiSampler([TaskNetSampler(), GroundTruthSampler(), fixed_sampler])
    if name == "dvn-token-accuracy":
        return DVNLoss(sampler=sampler, oracle=accuracy)
    if name == "dvn-span-f1":
        return DVNLoss(sampler=sampler, oracle=SpanF1Oracle(bio_vocab(), label_encoding="BIO"))
    raise ValueError(name)


DETERMINISTIC_LOSSES = [
    "cross-entropy",
    "energy",
    "energy-normalized",
    "negative-entropy",
    "energy-cost-augmented",
    "margin-task-net",
    "margin-fixed-samples",
    "margin-cost-augmented-gbi",
    "nce-fixed-samples",
    "dvn-token-accuracy",
    "dvn-span-f1",
]
GLOBAL_SCORES = [None, "linear-chain", "skip-chain", "self-attention"]


def _evaluate(name, inputs_and_sampler):
    inputs, sampler = inputs_and_sampler
    return _deterministic_loss(name, sampler)(inputs).item()


@pytest.mark.parametrize("global_score", GLOBAL_SCORES)
@pytest.mark.parametrize("name", DETERMINISTIC_LOSSES)
def test_padded_sentence_has_the_loss_it_has_alone(name, global_score):
    """Every loss averages per-sentence terms, so the loss of the batch is the mean of the losses
    of its sentences computed alone, without padding."""
    case = MaskingCase(global_score)
    alone = [_evaluate(name, case.part(b)) for b in range(2)]
    if name.startswith("margin"):  # the hinge must be active, or 0 == 0 would prove nothing
        assert min(alone) > 0
    # float32 rounding differences between padded and unpadded self-attention (~1e-6) are
    # amplified by the steps of gradient-based inference (observed 1.4e-5 relative)
    tolerance = 1e-4 if name.endswith("gbi") and global_score == "self-attention" else 1e-5
    batch = _evaluate(name, case.batch())
    assert batch == pytest.approx((alone[0] + alone[1]) / 2, rel=tolerance, abs=tolerance)
    # and the shorter sentence alone in a padded batch of one
    short_alone = _evaluate(
        name,
        case._inputs(
            case.task_logits[1:], case.score_logits[1:], case.tags[1:], case.mask[1:], case.samples[1:], case.log_q[1:]
        ),
    )
    assert short_alone == pytest.approx(alone[1], rel=tolerance, abs=tolerance)


@pytest.mark.parametrize("global_score", GLOBAL_SCORES)
@pytest.mark.parametrize("name", DETERMINISTIC_LOSSES)
def test_garbage_at_padded_positions_does_not_change_the_loss(name, global_score):
    case = MaskingCase(global_score)
    clean, corrupted = _evaluate(name, case.batch()), _evaluate(name, case.corrupted())
    assert math.isfinite(corrupted)
    assert corrupted == pytest.approx(clean, rel=1e-5, abs=1e-5)


def _sampling_loss(name):
    accuracy = TokenAccuracyOracle()
    if name == "nce":
        return NCERankingLoss(num_samples=6)
    if name == "dvn":
        return DVNLoss(oracle=accuracy)  # the default sampler: task-net output + 5 discrete samples
    if name == "margin-discrete":
        return MarginLoss(sampler=DiscreteSampler(6), oracle=accuracy, margin_scale=10.0)
    raise ValueError(name)


@pytest.mark.parametrize("global_score", ["linear-chain", "self-attention"])
@pytest.mark.parametrize("name", ["nce", "dvn", "margin-discrete"])
def test_garbage_at_padded_positions_does_not_change_sampling_losses(name, global_score):
    """Same seed, same draws: padded logits (even huge) change neither the samples at the real
    positions nor their log-probabilities nor their scores."""
    case = MaskingCase(global_score)
    torch.manual_seed(0)
    clean = _sampling_loss(name)(case.batch()[0]).item()
    torch.manual_seed(0)
    corrupted = _sampling_loss(name)(case.corrupted()[0]).item()
    assert math.isfinite(corrupted)
    assert corrupted == pytest.approx(clean, rel=1e-5, abs=1e-5)
    # a different seed draws different samples, and (almost surely) a different loss: the
    # comparison above is not vacuous
    torch.manual_seed(1)
    assert _sampling_loss(name)(case.batch()[0]).item() != pytest.approx(clean, rel=1e-5, abs=1e-5)
