from typing import Dict, List, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.modules.task_nets.task_nn import TaskNN, TaskOutput, output_size

SCALINGS = ("none", "normalise")
# Squared norms are floored here before the square root: a zero unary or pairwise term has norm
# 1e-6 (and a finite gradient) instead of 0.
_SQUARED_NORM_FLOOR = 1e-12


def unary_norms(unary: torch.Tensor, mask: Optional[torch.BoolTensor]) -> torch.Tensor:
    """`||U||` of each sequence `(batch,)`: the root mean square over its real positions of the
    Euclidean norm of the position's unary vector over tags,
    `sqrt(sum_{t real} sum_k U[t, k]^2 / n_real)` (the Frobenius norm over real positions divided by
    `sqrt(n_real)`), for unaries `(batch, seq_len, num_tags)` and a mask `(batch, seq_len)` (`None`:
    every position is real)."""
    squares = unary.pow(2).sum(-1)
    if mask is None:
        mean = squares.mean(-1)
    else:
        mean = (squares * mask).sum(-1) / mask.sum(-1).clamp_min(1)
    return mean.clamp_min(_SQUARED_NORM_FLOOR).sqrt()


def pairwise_norm(transitions: torch.Tensor, start: Optional[torch.Tensor] = None,
                  end: Optional[torch.Tensor] = None) -> torch.Tensor:
    """`||W||`: the Frobenius norm of the transition matrix augmented with the start scores as the
    row of a virtual first tag and the end scores as the column of a virtual last tag,
    `sqrt(||T||_F^2 + ||start||^2 + ||end||^2)` (the parts that are `None` left out)."""
    squared = sum(part.pow(2).sum() for part in (transitions, start, end) if part is not None)
    return squared.clamp_min(_SQUARED_NORM_FLOOR).sqrt()


def norm_ratio(output: TaskOutput) -> torch.Tensor:
    """`||U|| / ||W||` of a CRF task-net's output: the batch's mean `unary_norms` over the
    `pairwise_norm` of its (shared) pairwise potentials."""
    return unary_norms(output.logits, output.mask).mean() / pairwise_norm(output.transitions, output.start, output.end)


@TaskNN.register("linear-chain-crf")
class LinearChainCRFTaskNN(TaskNN):
    """A linear-chain CRF task-net: any tagger task-net's logits as the unary potentials, plus a
    learned `(num_tags, num_tags)` transition matrix (and optional start and end scores), returned
    in its `TaskOutput`; the `sequence-tags` output space then reads it as a `LinearChainCRF`, so
    every method samples from, scores the marginals of and decodes the CRF.

    The relative scale of the unary and pairwise potentials (Shevchenko & Osokin, "Scaling Matters
    in Deep Structured-Prediction Models"), with the norms `||U||` (`unary_norms`: per sequence, the
    root mean square over its real positions of the norm of a position's unary vector, so that it
    does not grow with the length, as the pairwise term's share of a sequence's score does not) and
    `||W||` (`pairwise_norm`: the Frobenius norm of the transitions with the start and end scores):

    - `scaling: "normalise"` (offline scaling by normalisation): the CRF's potentials are
      `alpha * U / ||U||` (each sequence's unaries rescaled to norm `alpha`) and `W / ||W||` (the
      transitions, start and end scores divided by their joint norm, so of norm 1);
    - `ratio_regularizer: lambda > 0` (offline scaling by regularisation, with `scaling: "none"`):
      `penalty` adds `lambda * (||U|| / ||W|| - alpha)^2` to the task-net step's loss, `||U||` the
      batch's mean, on the potentials the CRF uses;
    - online scaling: the buffer `unary_scale` (1 at first, saved with the weights) multiplies the
      unaries the CRF uses (after the normalisation, if any); the `online-unary-scale` trainer
      callback (`seal.training.online_scale`) re-chooses it after each epoch.

    Without scaling or regulariser the pairwise potentials start at 0: training begins from the
    tagger's factorised distribution (and stage training's unary phase trains exactly that model).
    With either, `W / ||W||` and the ratio need `W != 0`: they start as a random direction of norm 1.

    Metrics (`get_metrics`, reported by the model, so `training_norm_ratio` etc. in
    `metrics_epoch_*.json` and TensorBoard): the means over the training batches of the epoch of
    `unary_norm` (the batch's mean `||U||`) and `pairwise_norm` of the potentials the CRF uses,
    `norm_ratio`, the ratio of those two means (left out while `W = 0`), and the current
    `unary_scale`.  They are recorded in training mode only (validation and the online grid search
    run in eval mode), per worker in distributed training.

    # Parameters
    vocab : `Vocabulary`
    unary : `TaskNN`
        A task-net returning logits `(batch, seq_len, num_tags)` and a prefix mask (`tagger`,
        `letter-cnn`).
    label_namespace : `str`, optional (default = `"labels"`)
    include_start_end : `bool`, optional (default = `True`)
        Also learn a score for the first and for the last tag of a sequence.
    scaling : `str`, optional (default = `"none"`)
        `"none"` or `"normalise"`.
    alpha : `float`, optional (default = `1.0`)
        The unaries' norm under `"normalise"`, the target ratio of the regulariser.
    ratio_regularizer : `float`, optional (default = `0.0`)
        `lambda`; 0: no regulariser.  Refused with `"normalise"`, where the ratio is fixed.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        unary: TaskNN,
        label_namespace: str = "labels",
        include_start_end: bool = True,
        scaling: str = "none",
        alpha: float = 1.0,
        ratio_regularizer: float = 0.0,
    ) -> None:
        super().__init__()
        if scaling not in SCALINGS:
            raise ConfigurationError(f"linear-chain-crf: scaling must be one of {SCALINGS}, got {scaling!r}")
        if not alpha > 0:
            raise ConfigurationError(f"linear-chain-crf: alpha must be > 0, got {alpha}")
        if ratio_regularizer < 0:
            raise ConfigurationError(f"linear-chain-crf: ratio_regularizer must be >= 0, got {ratio_regularizer}")
        if ratio_regularizer > 0 and scaling == "normalise":
            raise ConfigurationError(
                "linear-chain-crf: ratio_regularizer has no effect with scaling 'normalise' (the ratio is then alpha)"
            )
        num_tags = output_size(vocab, label_namespace)
        self.unary = unary
        self.scaling = scaling
        self.alpha = alpha
        self.ratio_regularizer = ratio_regularizer
        self.transitions = torch.nn.Parameter(torch.zeros(num_tags, num_tags))
        self.start: Optional[torch.nn.Parameter] = None
        self.end: Optional[torch.nn.Parameter] = None
        if include_start_end:
            self.start = torch.nn.Parameter(torch.zeros(num_tags))
            self.end = torch.nn.Parameter(torch.zeros(num_tags))
        if scaling == "normalise" or ratio_regularizer > 0:
            with torch.no_grad():
                for part in self._pairwise():
                    part.normal_()
                norm = pairwise_norm(self.transitions, self.start, self.end)
                for part in self._pairwise():
                    part.div_(norm)
        self.register_buffer("unary_scale", torch.ones(()))
        self._sums: Dict[str, float] = {}
        self._batches = 0

    def _pairwise(self) -> List[torch.nn.Parameter]:
        return [part for part in (self.transitions, self.start, self.end) if part is not None]

    def forward(self, **inputs) -> TaskOutput:  # type: ignore[override]
        output = self.unary(**inputs)
        num_tags = self.transitions.size(0)
        if output.logits.dim() != 3 or output.logits.size(-1) != num_tags:
            raise ConfigurationError(
                f"linear-chain-crf: the unary task-net must return logits (batch, seq_len, {num_tags}), "
                f"got {tuple(output.logits.shape)}"
            )
        unary, transitions, start, end = output.logits, self.transitions, self.start, self.end
        if self.scaling == "normalise":
            unary = self.alpha * unary / unary_norms(unary, output.mask)[:, None, None]
            norm = pairwise_norm(transitions, start, end)
            transitions, start, end = (None if part is None else part / norm for part in (transitions, start, end))
        if float(self.unary_scale) != 1.0:
            unary = unary * self.unary_scale
        output = output._replace(logits=unary, transitions=transitions, start=start, end=end)
        if self.training:
            self._record(output)
        return output

    def penalty(self, output: TaskOutput) -> Optional[torch.Tensor]:
        """`ratio_regularizer * (||U|| / ||W|| - alpha)^2` on this output's potentials, or `None`."""
        if self.ratio_regularizer == 0:
            return None
        return self.ratio_regularizer * (norm_ratio(output) - self.alpha).pow(2)

    def _record(self, output: TaskOutput) -> None:
        with torch.no_grad():
            unary = unary_norms(output.logits, output.mask).mean().item()
            parts = (output.transitions, output.start, output.end)
            pairwise = sum(part.pow(2).sum() for part in parts if part is not None).sqrt().item()  # 0 if W = 0
        for name, value in (("unary_norm", unary), ("pairwise_norm", pairwise)):
            self._sums[name] = self._sums.get(name, 0.0) + value
        self._batches += 1

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        """The epoch's means of the recorded norms, their ratio (left out while `W = 0`, where it
        is infinite) and the current `unary_scale`; nothing when no training batch has been
        recorded since the last reset."""
        if not self._batches:
            return {}
        metrics = {name: total / self._batches for name, total in self._sums.items()}
        if metrics["pairwise_norm"] > 0:
            metrics["norm_ratio"] = metrics["unary_norm"] / metrics["pairwise_norm"]
        metrics["unary_scale"] = float(self.unary_scale)
        if reset:
            self._sums, self._batches = {}, 0
        return metrics

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Weights saved before `unary_scale` existed are those of an unscaled CRF.
        state_dict.setdefault(prefix + "unary_scale", torch.ones(()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
