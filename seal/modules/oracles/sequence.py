from typing import List, Set, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.data.tag_schemes import span_decoder
from seal.modules.oracles.oracle import OracleValue


@OracleValue.register("token-accuracy")
class TokenAccuracyOracle(OracleValue):
    """Fraction of a tag sequence's real positions that carry the gold tag, relaxed to
    distributions over tags: `sum_i <y_i, g_i> / n` over the `n` unmasked positions (one minus
    the normalised Hamming loss).  1.0 for a sequence without real positions.

    Shapes as in `OracleValue` with `label_shape == (seq_len, num_tags)`; `labels` are one-hot
    rows (the output space's encoded labels).  Differentiable in `y`.
    """

    def __call__(self, y, labels, mask=None):
        if y.dim() != 4:
            raise ConfigurationError(
                f"token-accuracy needs tag sequences (batch, n, seq_len, tags), got {tuple(y.shape)}"
            )
        agreement = (y * labels.unsqueeze(1).to(y.dtype)).sum(-1)  # (batch, n, seq_len)
        if mask is None:
            mask = torch.ones(labels.shape[:2], dtype=torch.bool, device=y.device)
        real = mask.unsqueeze(1).to(y.dtype)
        lengths = real.sum(-1)
        value = (agreement * real).sum(-1) / lengths.clamp_min(1)
        return torch.where(lengths > 0, value, torch.ones_like(value))


@OracleValue.register("span-f1")
class SpanF1Oracle(OracleValue):
    """Per-sequence span F1 of the argmax tag sequence against the gold spans (exact match of
    label and boundaries), 1.0 when both have no span.  Not differentiable: use it for DVN
    targets and evaluation-like rewards, not in cost-augmented inference.

    # Parameters
    vocab : `Vocabulary`
    label_encoding : `str`, optional (default = `"BIO"`)
        `"BIO"`, `"IOB1"` or `"BIOUL"`.
    label_namespace : `str`, optional (default = `"labels"`)
    """

    def __init__(self, vocab: Vocabulary, label_encoding: str = "BIO", label_namespace: str = "labels") -> None:
        self.decode_spans = span_decoder(label_encoding)
        self.names = vocab.get_index_to_token_vocabulary(label_namespace)

    def _spans(self, indices: List[int]) -> Set[Tuple[str, Tuple[int, int]]]:
        return set(self.decode_spans([self.names[i] for i in indices]))

    def __call__(self, y, labels, mask=None):
        lengths = mask.sum(-1).tolist() if mask is not None else [labels.size(1)] * labels.size(0)
        predicted, gold = y.argmax(-1).tolist(), labels.argmax(-1).tolist()
        values = [
            [self._f1(self._spans(sample[:length]), self._spans(gold_row[:length])) for sample in samples]
            for samples, gold_row, length in zip(predicted, gold, map(int, lengths))
        ]
        return torch.tensor(values, dtype=y.dtype, device=y.device)

    @staticmethod
    def _f1(predicted: Set, gold: Set) -> float:
        if not predicted and not gold:
            return 1.0
        return 2 * len(predicted & gold) / (len(predicted) + len(gold))
