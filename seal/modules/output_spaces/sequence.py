from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.training.metrics import Metric, SpanBasedF1Measure

from seal.data.tag_schemes import span_decoder
from seal.metrics import TokenAccuracy, WholeSequenceAccuracy
from seal.metrics.srl import SrlEvalF1
from seal.modules.distributions import Categorical, LinearChainCRF, OutputDistribution, allowed_moves
from seal.modules.output_spaces.output_space import OutputSpace
from seal.modules.task_nets.task_nn import TaskOutput

_EPSILON = 1e-6


def project_onto_simplex(values: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each vector along the last dimension onto the probability simplex
    (Duchi et al., 2008): the closest point with non-negative entries summing to one."""
    sorted_values, _ = torch.sort(values, dim=-1, descending=True)
    cumulative = sorted_values.cumsum(-1) - 1.0
    ranks = torch.arange(1, values.size(-1) + 1, device=values.device, dtype=values.dtype)
    support = (sorted_values - cumulative / ranks) > 0
    support_size = support.to(values.dtype).sum(-1, keepdim=True).clamp_min(1)
    threshold = cumulative.gather(-1, support_size.long() - 1) / support_size
    return (values - threshold).clamp_min(0.0)


@OutputSpace.register("sequence-tags")
class SequenceTagsOutputSpace(OutputSpace):
    """A sequence of tags: `y` has `label_shape == (seq_len, num_tags)`, one categorical decision
    per position, and `mask` `(batch, seq_len)` marks the real positions (padding at the end).

    Relaxed `y` puts a distribution over tags at each position (a product of simplices); the
    task-net's distribution is a product of per-position categoricals `softmax(logits)`
    (`Categorical`), or a `LinearChainCRF` when its output carries transitions.  Padded
    positions of every candidate output are all-zero (`mask_outputs`), so they add nothing to a
    score, a log-probability or an oracle value.

    Gold labels arrive as tag indices `(batch, seq_len)` (a `SequenceLabelField`) and are turned
    into one-hot outputs by `encode_labels`.

    # Parameters
    label_namespace : `str`, optional (default = `"labels"`)
    label_encoding : `str`, optional (default = `None`)
        `"BIO"`, `"IOB1"` or `"BIOUL"` for span-labelling tasks (NER, SRL): metrics are span
        precision, recall and F1 per type and overall, and predictions list their spans.  `None`
        for plain tag sequences (OCR letters): metrics are token accuracy and whole-sequence
        accuracy.
    constrained_decoding : `bool`, optional (default = `False`)
        Predict (for metrics and output) the legal tag sequence of the encoding with the highest
        probability under the task-net's distribution (Viterbi with forbidden moves, e.g. no `I-X`
        without its `B-X`: over the per-position marginals, or over a CRF's potentials), instead of
        the per-position argmax (or a CRF's unconstrained Viterbi).  Needs a `label_encoding`.
        Training is unchanged.
    span_metric : `str`, optional (default = `"span-f1"`)
        `"span-f1"`: AllenNLP's `SpanBasedF1Measure` (contiguous spans).  `"srl-eval"`: the
        CoNLL-2005 SRL scorer (`SrlEvalF1`: continuation arguments join their head, the `V` span
        is excluded); needs `"BIO"` tags.
    """

    SPAN_METRICS = ("span-f1", "srl-eval")

    def __init__(
        self,
        label_namespace: str = "labels",
        label_encoding: Optional[str] = None,
        constrained_decoding: bool = False,
        span_metric: str = "span-f1",
    ) -> None:
        if label_encoding is not None:
            span_decoder(label_encoding)  # fails early on an unknown encoding
        if constrained_decoding and label_encoding is None:
            raise ConfigurationError("sequence-tags: constrained_decoding needs a label_encoding (BIO, IOB1, BIOUL)")
        if span_metric not in self.SPAN_METRICS:
            raise ConfigurationError(
                f"sequence-tags: unknown span_metric {span_metric!r}; use one of {self.SPAN_METRICS}"
            )
        if span_metric == "srl-eval" and label_encoding != "BIO":
            raise ConfigurationError(
                f"sequence-tags: span_metric 'srl-eval' needs label_encoding 'BIO', got {label_encoding!r}"
            )
        self.label_namespace = label_namespace
        self.label_encoding = label_encoding
        self.constrained_decoding = constrained_decoding
        self.span_metric = span_metric
        # (allowed transitions, start, end) of the encoding, for constrained decoding.
        self._allowed: Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None

    def index_labels(self, vocab: Vocabulary) -> None:
        if self.constrained_decoding:
            tags = vocab.get_index_to_token_vocabulary(self.label_namespace)
            self._allowed = allowed_moves(self.label_encoding, tags)

    # ---- the distribution ----------------------------------------------------------------
    def distribution(self, task_output: TaskOutput) -> OutputDistribution:
        """A categorical per position from the logits, or the linear-chain CRF of the logits (its
        unaries) and the output's transitions (whose argmax is then constrained to legal moves
        with `constrained_decoding`)."""
        if task_output.transitions is None:
            return Categorical(task_output.logits, task_output.mask)
        allowed = self._legal_moves() if self.constrained_decoding else (None, None, None)
        return LinearChainCRF(task_output.logits, task_output.transitions, task_output.mask,
                              task_output.start, task_output.end, *allowed)

    def log_potentials(self, probabilities):
        return torch.log(probabilities)

    # ---- relaxed outputs -----------------------------------------------------------------
    def project(self, y):
        return project_onto_simplex(y)

    def ascent_step(self, y, gradient, step_size, method):
        if method == "projected":
            return self.project(y + step_size * gradient)
        if method == "entropic":
            # Exponentiated gradient: mirror ascent with the entropy keeps y inside the simplex.
            return torch.softmax(torch.log(y.clamp_min(_EPSILON)) + step_size * gradient, dim=-1)
        raise ConfigurationError(f"unknown ascent method {method!r}: use 'projected' or 'entropic'")

    def uniform(self, like):
        return torch.full_like(like, 1.0 / like.size(-1))

    def decode(self, probabilities, mask=None):
        """Argmax per position; with `constrained_decoding`, the legal sequence of highest
        log-probability (then `probabilities` must be `(batch, seq_len, num_tags)`)."""
        one_hot = F.one_hot(self._best_tags(probabilities, mask), probabilities.size(-1)).to(probabilities.dtype)
        if mask is not None:
            one_hot = one_hot * mask.view(mask.shape + (1,) * (one_hot.dim() - mask.dim())).to(one_hot.dtype)
        return one_hot

    def _best_tags(self, probabilities: torch.Tensor, mask: Optional[torch.BoolTensor]) -> torch.Tensor:
        if not self.constrained_decoding:
            return probabilities.argmax(-1)
        if probabilities.dim() != 3:
            raise ConfigurationError(
                f"constrained decoding expects (batch, seq_len, num_tags), got {tuple(probabilities.shape)}"
            )
        # The argmax, among legal sequences, of the factorised distribution with these marginals:
        # a CRF without transitions whose argmax is restricted to the encoding's moves.  Clamped, so
        # that a sequence of improbable tags still outscores an illegal one.
        unary = self.log_potentials(probabilities.clamp_min(1e-12))
        chain = LinearChainCRF(unary, unary.new_zeros(unary.shape[-1:] * 2), mask, None, None, *self._legal_moves())
        return chain.viterbi()[0]

    def _legal_moves(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._allowed is None:
            raise ConfigurationError("sequence-tags: constrained decoding needs index_labels(vocab) first")
        return self._allowed

    def mask_outputs(self, y, mask):
        if mask is None:
            return y
        return y * mask.unsqueeze(1).unsqueeze(-1).to(y.dtype)

    def encode_labels(self, labels: torch.Tensor, mask: Optional[torch.BoolTensor], num_tags: int) -> torch.Tensor:
        if labels.dim() != 2:
            raise ConfigurationError(
                f"sequence-tags expects gold tag indices of shape (batch, seq_len), got {tuple(labels.shape)}"
            )
        one_hot = F.one_hot(labels.long(), num_tags).to(torch.get_default_dtype())
        if mask is not None:
            one_hot = one_hot * mask.unsqueeze(-1).to(one_hot.dtype)
        return one_hot

    def num_decisions(self, mask, labels):
        if mask is None:
            return torch.full(labels.shape[:1], labels.shape[1], dtype=labels.dtype, device=labels.device)
        return mask.sum(-1).to(labels.dtype)

    # ---- evaluation and output -------------------------------------------------------------
    def default_metrics(self, vocab: Vocabulary) -> Dict[str, Metric]:
        if self.span_metric == "srl-eval":
            return {"span_f1": SrlEvalF1(vocab, self.label_namespace)}
        if self.label_encoding is not None:
            # Argmax tags of an unconstrained tagger may be illegal BIOUL: decode them tolerantly.
            return {
                "span_f1": SpanBasedF1Measure(
                    vocab,
                    self.label_namespace,
                    label_encoding=None,
                    tags_to_spans_function=span_decoder(self.label_encoding),
                )
            }
        return {"accuracy": TokenAccuracy(), "sequence_accuracy": WholeSequenceAccuracy()}

    def update_metrics(self, metrics, probabilities, labels, mask=None):
        gold = labels.argmax(-1)
        if self.constrained_decoding:
            probabilities = self.decode(probabilities.detach(), mask)
        for metric in metrics.values():
            metric(probabilities, gold, mask)

    def human_readable(self, probabilities, vocab: Vocabulary, mask=None, predictions=None) -> List[Dict[str, Any]]:
        """Tags (a CRF's `predictions`, or decoded from the marginals), each with its marginal
        probability, and the spans of a span encoding."""
        names = vocab.get_index_to_token_vocabulary(self.label_namespace)
        lengths = mask.sum(-1).tolist() if mask is not None else [probabilities.size(1)] * probabilities.size(0)
        probabilities = probabilities.detach()
        best_tags = predictions.argmax(-1) if predictions is not None else self._best_tags(probabilities, mask)
        best_probabilities = probabilities.gather(-1, best_tags.unsqueeze(-1)).squeeze(-1)
        readable = []
        for indices, best, length in zip(best_tags.cpu(), best_probabilities.cpu(), lengths):
            indices, best = indices[: int(length)], best[: int(length)]
            tags = [names[i] for i in indices.tolist()]
            prediction: Dict[str, Any] = {"tags": tags, "tag_probabilities": [round(p, 6) for p in best.tolist()]}
            if self.label_encoding is not None:
                spans = span_decoder(self.label_encoding)(tags)
                prediction["spans"] = [
                    {"label": label, "start": start, "end": end}
                    for label, (start, end) in sorted(spans, key=lambda s: s[1])
                ]
            readable.append(prediction)
        return readable
