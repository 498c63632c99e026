"""Constrained max-sum (Viterbi) decoding of a tag sequence from per-position tag scores."""
from typing import Dict, NamedTuple

import torch
from allennlp.modules.conditional_random_field import allowed_transitions

# Finite, so that a row of forbidden moves still has a maximum (there is always a legal path).
_FORBIDDEN = -1e9


class TagConstraints(NamedTuple):
    """Which tag may follow which in a span encoding, as 0 / `_FORBIDDEN` potentials.

    transitions : `(num_tags, num_tags)`, entry `[i, j]` for tag `j` right after tag `i`.
    start : `(num_tags,)`, for the first tag of a sequence.
    end : `(num_tags,)`, for the last tag.
    """

    transitions: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor

    @classmethod
    def for_encoding(cls, label_encoding: str, labels: Dict[int, str]) -> "TagConstraints":
        """The legal moves of `label_encoding` (`"BIO"`, `"IOB1"`, `"BIOUL"`, `"BMES"`) over the tags
        `labels` (index -> tag, e.g. a vocabulary namespace): in BIO, no `I-X` except after `B-X`
        or `I-X`; in BIOUL also no unfinished span at the end."""
        num_tags = len(labels)
        allowed = torch.full((num_tags + 2, num_tags + 2), _FORBIDDEN)
        for i, j in allowed_transitions(label_encoding, labels):  # start = num_tags, end = num_tags + 1
            allowed[i, j] = 0.0
        return cls(allowed[:num_tags, :num_tags], allowed[num_tags, :num_tags], allowed[:num_tags, num_tags + 1])


def constrained_viterbi(
    log_scores: torch.Tensor, mask: torch.BoolTensor, constraints: TagConstraints
) -> torch.Tensor:
    """The legal tag sequence of highest total score, for every sequence of a batch at once.

    log_scores : `(batch, seq_len, num_tags)`, e.g. the task-net's log-probabilities; a sequence's
        score is the sum of its tags' entries (plus the constraints' 0 / -1e9 potentials).
    mask : `(batch, seq_len)`, real positions first; every sequence has at least one.
    Returns tag indices `(batch, seq_len)` (long, no gradient); padded positions repeat the last
    real tag.
    """
    with torch.no_grad():
        batch, seq_len, num_tags = log_scores.shape
        transitions, start, end = (t.to(log_scores) for t in constraints)
        best = log_scores[:, 0] + start  # (batch, tags): best path ending in each tag
        stay = torch.arange(num_tags, device=log_scores.device).expand(batch, num_tags)
        backpointers = []
        for position in range(1, seq_len):
            candidates = best.unsqueeze(2) + transitions  # (batch, previous, next)
            top, previous = candidates.max(1)
            real = mask[:, position].unsqueeze(1)
            best = torch.where(real, top + log_scores[:, position], best)
            backpointers.append(torch.where(real, previous, stay))  # padding keeps the path as is
        tag = (best + end).argmax(-1)
        path = [tag]
        for pointers in reversed(backpointers):
            tag = pointers.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        return torch.stack(path[::-1], dim=1)
