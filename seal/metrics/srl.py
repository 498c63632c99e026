from typing import Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.training.metrics import Metric
from allennlp_models.structured_prediction.metrics.srl_eval_scorer import DEFAULT_SRL_EVAL_PATH, SrlEvalScorer
from allennlp_models.structured_prediction.models.srl import convert_bio_tags_to_conll_format

PREDICATE_TAG = "B-V"


@Metric.register("srl-eval")
class SrlEvalF1(Metric):
    """CoNLL-2005 semantic-role span F1, computed by the official `srl-eval.pl` scorer (the copy
    shipped with allennlp-models, run with `perl`) through allennlp-models' `SrlEvalScorer`.

    The scorer treats a continuation argument (`C-ARG1`) as part of one discontinuous argument
    with its head span, and reference arguments (`R-ARG0`) as arguments of their own; the
    predicate's own span (`V`) is excluded.  Reports `precision-`, `recall-` and `f1-measure-` per
    argument type and `-overall`.

    Called like AllenNLP's `SpanBasedF1Measure`, on tag indices of one predicate's frame per
    instance (BIO tags of `label_namespace`):
    predictions : `(batch, seq_len, num_tags)` scores (argmax taken) or one-hot tags.
    gold_labels : `(batch, seq_len)` tag indices; the predicate is the position tagged `B-V`
        (an instance without one is a sentence without predicate).
    mask : `(batch, seq_len)`, optional.

    The scorer is a `perl` process reading files, so frames are buffered and scored together:
    when `flush_size` frames are waiting, and at `get_metric(reset=True)` (the end of an epoch),
    which is exact.  `get_metric(reset=False)` (AllenNLP's progress bar, after every batch) reports
    the frames scored so far, up to `flush_size - 1` behind.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        label_namespace: str = "labels",
        srl_eval_path: str = DEFAULT_SRL_EVAL_PATH,
        ignore_classes: Sequence[str] = ("V",),
        flush_size: int = 512,
    ) -> None:
        self._tags = vocab.get_index_to_token_vocabulary(label_namespace)
        bad = sorted(t for t in self._tags.values() if t != "O" and t[:2] not in ("B-", "I-"))
        if bad:
            raise ConfigurationError(f"srl-eval needs BIO tags in namespace {label_namespace!r}; got {bad[:5]}")
        self._scorer = SrlEvalScorer(srl_eval_path, ignore_classes=list(ignore_classes))
        self._flush_size = flush_size
        self._waiting: List[Tuple[Optional[int], List[str], List[str], List[str]]] = []

    def __call__(  # type: ignore[override]
        self,
        predictions: torch.Tensor,
        gold_labels: torch.Tensor,
        mask: Optional[torch.BoolTensor] = None,
    ) -> None:
        predictions, gold_labels, mask = self.detach_tensors(predictions, gold_labels, mask)
        lengths = mask.sum(-1).tolist() if mask is not None else [gold_labels.size(1)] * gold_labels.size(0)
        predicted_tags = self._to_tags(predictions.argmax(-1), lengths)
        gold_tags = self._to_tags(gold_labels, lengths)
        verb_indices = [tags.index(PREDICATE_TAG) if PREDICATE_TAG in tags else None for tags in gold_tags]
        # The scorer reads only whether a word is the predicate, not the word itself.
        for verb, predicted, gold in zip(verb_indices, predicted_tags, gold_tags):
            sentence = ["V" if i == verb else "-" for i in range(len(gold))]
            self._waiting.append(
                (verb, sentence, convert_bio_tags_to_conll_format(predicted), convert_bio_tags_to_conll_format(gold))
            )
        if len(self._waiting) >= self._flush_size:
            self._flush()

    def _flush(self) -> None:
        if self._waiting:
            self._scorer(*(list(column) for column in zip(*self._waiting)))
            self._waiting = []

    def _to_tags(self, indices: torch.Tensor, lengths: List[int]) -> List[List[str]]:
        return [[self._tags[i] for i in row[: int(length)]] for row, length in zip(indices.tolist(), lengths)]

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        if reset:
            self._flush()
        return self._scorer.get_metric(reset)

    def reset(self) -> None:
        self._waiting = []
        self._scorer.reset()
