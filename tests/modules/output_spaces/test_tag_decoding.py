import itertools

import pytest
import torch

from seal.modules.distributions import LinearChainCRF, allowed_moves

BIO = {0: "O", 1: "B-A", 2: "I-A", 3: "B-B", 4: "I-B"}
BIOUL = {0: "O", 1: "B-A", 2: "I-A", 3: "L-A", 4: "U-A"}


def constrained_viterbi(log_scores, mask, allowed):
    """The decoder of the `sequence-tags` space's constrained decoding: the argmax of a CRF with
    these unaries and no transitions, restricted to the `allowed` moves."""
    num_tags = log_scores.size(-1)
    return LinearChainCRF(log_scores, log_scores.new_zeros(num_tags, num_tags), mask, None, None, *allowed).viterbi()[0]


def legal_bio(tags):
    """An I-X only right after B-X or I-X."""
    return all(
        not tag.startswith("I-") or (i > 0 and tags[i - 1] in ("B-" + tag[2:], tag)) for i, tag in enumerate(tags)
    )


def legal_bioul(tags):
    """Every span opens with B and closes with L, or is a single U; nothing is left open."""
    open_span = None
    for tag in tags:
        prefix, label = tag[0], tag[2:]
        if prefix in "IL" and open_span != label:
            return False
        if prefix in "BUO" and open_span is not None:
            return False
        open_span = label if prefix in "BI" else None
    return open_span is None


def brute_force(log_scores, labels, legal):
    best, best_path = -float("inf"), None
    for path in itertools.product(range(len(labels)), repeat=log_scores.size(0)):
        if legal([labels[i] for i in path]):
            score = sum(log_scores[i, t].item() for i, t in enumerate(path))
            if score > best:
                best, best_path = score, list(path)
    return best, best_path


@pytest.mark.parametrize("encoding, labels, legal", [("BIO", BIO, legal_bio), ("BIOUL", BIOUL, legal_bioul)])
@pytest.mark.parametrize("length", [1, 2, 3, 4])
def test_viterbi_finds_the_best_legal_sequence(encoding, labels, legal, length):
    generator = torch.Generator().manual_seed(length)
    constraints = allowed_moves(encoding, labels)
    for _ in range(5):
        log_scores = torch.randn(1, length, len(labels), generator=generator) * 3
        path = constrained_viterbi(log_scores, torch.ones(1, length, dtype=torch.bool), constraints)[0].tolist()
        best, _ = brute_force(log_scores[0], labels, legal)
        assert legal([labels[i] for i in path])
        assert sum(log_scores[0, i, t].item() for i, t in enumerate(path)) == pytest.approx(best, abs=1e-5)


def test_padding_does_not_change_a_sequences_path():
    constraints = allowed_moves("BIOUL", BIOUL)
    generator = torch.Generator().manual_seed(0)
    log_scores = torch.randn(3, 5, 5, generator=generator) * 3
    lengths = [5, 3, 1]
    mask = torch.tensor([[i < n for i in range(5)] for n in lengths])
    batched = constrained_viterbi(log_scores, mask, constraints)
    for row, n in enumerate(lengths):
        alone = constrained_viterbi(log_scores[row : row + 1, :n], mask[row : row + 1, :n], constraints)[0]
        assert batched[row, :n].tolist() == alone.tolist()


def test_an_i_tag_never_starts_a_span_even_when_it_is_the_argmax():
    # Per-position argmax: O, I-A.  Legal candidates: (O, O) 0.6*0.3, (B-A, I-A) 0.4*0.7, (B-A, O) 0.4*0.3.
    probabilities = torch.tensor([[[0.6, 0.4, 0.0, 0.0, 0.0], [0.3, 0.0, 0.7, 0.0, 0.0]]])
    constraints = allowed_moves("BIO", BIO)
    path = constrained_viterbi(probabilities.clamp_min(1e-12).log(), torch.ones(1, 2, dtype=torch.bool), constraints)
    assert path.tolist() == [[1, 2]]
