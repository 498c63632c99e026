from typing import Any, Dict, List, Optional

import torch
from allennlp.common import Registrable
from allennlp.data import Vocabulary
from allennlp.training.metrics import Metric


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

    Gradients.  `probabilities`, `log_probability`, `project` and `ascent_step` are differentiable;
    `sample` and `decode` return tensors without gradient.
    """

    default_implementation = "multi-label"

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Task-net logits `(batch, *label_shape)` -> relaxed output of the same shape."""
        raise NotImplementedError

    def log_probability(
        self, logits: torch.Tensor, y: torch.Tensor, mask: Optional[torch.BoolTensor] = None
    ) -> torch.Tensor:
        """Log-probability of outputs `y` `(batch, num_samples, *label_shape)` under the task-net's
        factorised distribution with `logits` `(batch, *label_shape)`; shape `(batch, num_samples)`.
        For relaxed `y` this is the negative cross-entropy between `y` and the distribution."""
        raise NotImplementedError

    def sample(
        self, probabilities: torch.Tensor, num_samples: int, mask: Optional[torch.BoolTensor] = None
    ) -> torch.Tensor:
        """`num_samples` discrete outputs drawn from the factorised distribution with these
        `probabilities` `(batch, *label_shape)`: `(batch, num_samples, *label_shape)`."""
        raise NotImplementedError

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
        self, probabilities: torch.Tensor, vocab: Vocabulary, mask: Optional[torch.BoolTensor] = None
    ) -> List[Dict[str, Any]]:
        """One JSON-serialisable prediction per instance of `probabilities` `(batch, *label_shape)`."""
        raise NotImplementedError
