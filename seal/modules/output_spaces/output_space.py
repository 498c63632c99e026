from typing import Any, Dict, List, Optional

import torch
from allennlp.common import Registrable
from allennlp.data import Vocabulary
from allennlp.training.metrics import Metric

from seal.modules.distributions import OutputDistribution
from seal.modules.task_nets.task_nn import TaskOutput


class OutputSpace(Registrable):
    """What an output `y` is for a task, and everything the generic SEAL code needs to know of it.

    Shapes.  A single output has shape `label_shape`: `(num_labels,)` for a label set,
    `(seq_len, num_tags)` for a tag sequence.  Generic code always handles *sets of candidate
    outputs* of shape `(batch, num_samples, *label_shape)`; gold labels and task-net logits have
    shape `(batch, *label_shape)`.  `mask`, when the space has one, has shape
    `(batch, *label_shape[:-1])` for factors that may be padding (positions of a sequence) and is
    `None` for a fixed-size output.

    Values.  A *relaxed* output has entries in [0, 1] (marginal probabilities of each binary
    decision, or a distribution over tags at each position); a *discrete* output is a relaxed one
    with entries in {0, 1}.  Task-net logits are unnormalised and live in the reals.

    The task-net's output is read as a distribution over outputs (`distribution`); metrics and
    human-readable output read relaxed predictions (its marginals, or a sampler's result).

    Gradients.  `probabilities`, `log_probability`, `project` and `ascent_step` are differentiable;
    `sample` and `decode` return tensors without gradient.
    """

    default_implementation = "multi-label"

    def distribution(self, task_output: TaskOutput) -> OutputDistribution:
        """The distribution over outputs a task-net's output defines: every sampler, loss and
        prediction reads the task-net through it (independent decisions from the logits alone, or
        a structured one when the output carries pairwise potentials)."""
        raise NotImplementedError

    def prediction(self, distribution: OutputDistribution) -> Optional[torch.Tensor]:
        """The discrete prediction `(batch, *label_shape)` of a structured distribution (its argmax),
        or `None` for independent decisions, whose prediction this space decodes from the
        marginals (`decode`: thresholds, constrained decoding)."""
        return None if distribution.factorised else distribution.argmax()

    def log_potentials(self, probabilities: torch.Tensor) -> torch.Tensor:
        """Relaxed outputs `(batch, *label_shape)` -> logits of the factorised distribution whose
        marginals they are (`-inf` where a probability is 0)."""
        raise NotImplementedError

    # Shorthands for the distribution of plain logits (no pairwise potentials).
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Task-net logits `(batch, *label_shape)` -> relaxed output of the same shape."""
        return self.distribution(TaskOutput(logits)).marginals()

    def log_probability(
        self, logits: torch.Tensor, y: torch.Tensor, mask: Optional[torch.BoolTensor] = None
    ) -> torch.Tensor:
        """`log p(y)` `(batch, num_samples)` of outputs `y` `(batch, num_samples, *label_shape)`
        under the factorised distribution with `logits` `(batch, *label_shape)`."""
        return self.distribution(TaskOutput(logits, mask)).log_prob(y)

    def sample(
        self, probabilities: torch.Tensor, num_samples: int, mask: Optional[torch.BoolTensor] = None
    ) -> torch.Tensor:
        """`num_samples` discrete outputs drawn from the factorised distribution with these
        `probabilities` `(batch, *label_shape)`: `(batch, num_samples, *label_shape)`."""
        return self.distribution(TaskOutput(self.log_potentials(probabilities), mask)).sample(num_samples)

    def project(self, y: torch.Tensor) -> torch.Tensor:
        """Projects arbitrary real values onto the set of relaxed outputs (same shape)."""
        raise NotImplementedError

    def ascent_step(
        self, y: torch.Tensor, gradient: torch.Tensor, step_size: float, method: str
    ) -> torch.Tensor:
        """One step of gradient ascent from relaxed `y` along `gradient`, staying in the relaxed
        set: `"projected"` (Euclidean step then `project`) or `"entropic"` (exponentiated-gradient /
        mirror step, which keeps every entry strictly inside (0, 1))."""
        raise NotImplementedError

    def uniform(self, like: torch.Tensor) -> torch.Tensor:
        """The relaxed output of maximal entropy, shaped like `like`."""
        raise NotImplementedError

    def decode(self, probabilities: torch.Tensor, mask: Optional[torch.BoolTensor] = None) -> torch.Tensor:
        """The discrete prediction for relaxed outputs of any leading shape."""
        raise NotImplementedError

    def num_decisions(self, mask: Optional[torch.BoolTensor], labels: torch.Tensor) -> torch.Tensor:
        """Number of independent decisions in each gold output `(batch, *label_shape)`: `(batch,)`."""
        raise NotImplementedError

    def mask_outputs(self, y: torch.Tensor, mask: Optional[torch.BoolTensor]) -> torch.Tensor:
        """Zeroes the padded factors of `y` `(batch, num_samples, *label_shape)`."""
        return y

    def encode_labels(
        self, labels: torch.Tensor, mask: Optional[torch.BoolTensor], num_tags: int
    ) -> torch.Tensor:
        """The gold labels as the instance's field delivers them -> discrete outputs
        `(batch, *label_shape)` (e.g. tag indices -> one-hot rows, zero at padding).  Everything
        after the model's entry sees encoded labels.  `num_tags` is the size of the last
        dimension of `label_shape`."""
        return labels

    def index_labels(self, vocab: Vocabulary) -> None:
        """Reads what the space needs of the label vocabulary (e.g. which tags may follow which);
        the model calls it once, before `default_metrics`."""

    def default_metrics(self, vocab: Vocabulary) -> Dict[str, Metric]:
        """Metrics a model reports for this space, by name.  A metric returning a dict reports its
        own keys; one returning a float reports under its name here."""
        return {}

    def update_metrics(
        self,
        metrics: Dict[str, Metric],
        probabilities: torch.Tensor,
        labels: torch.Tensor,
        mask: Optional[torch.BoolTensor] = None,
    ) -> None:
        for metric in metrics.values():
            metric(probabilities, labels)

    def human_readable(
        self,
        probabilities: torch.Tensor,
        vocab: Vocabulary,
        mask: Optional[torch.BoolTensor] = None,
        predictions: Optional[torch.Tensor] = None,
    ) -> List[Dict[str, Any]]:
        """One JSON-serialisable prediction per instance of `probabilities` `(batch, *label_shape)`;
        `predictions`, when given, is the discrete prediction to report (see `prediction`)."""
        raise NotImplementedError
