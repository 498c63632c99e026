from typing import Callable, Dict, NamedTuple, Optional, Tuple

import torch
from allennlp.common import Registrable
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary


class TaskOutput(NamedTuple):
    """What a `TaskNN` computes for a batch.

    logits : `(batch, *label_shape)`, unnormalised scores of every decision of the output.
    mask : `(batch, *label_shape[:-1])` bool, or `None` when outputs have a fixed size.
    features : `(batch, feature_dim)` or `(batch, ..., feature_dim)`, the representation of `x` the
        logits are a linear function of; structured scores conditioned on `x` read it.
    transitions : `None` for a task-net whose decisions are independent given `x` (the logits are
        then the whole distribution); for a linear-chain CRF over tag sequences the pairwise
        potentials, `(num_tags, num_tags)` shared or `(batch, seq_len - 1, num_tags, num_tags)` per
        position, entry `[i, j]` scoring tag `j` right after tag `i` (the logits are the unaries).
    start, end : `(num_tags,)` or `None`: a CRF's scores of the first and of the last tag.

    The output space turns a `TaskOutput` into the distribution over outputs it defines
    (`OutputSpace.distribution`); everything downstream reads that, not the logits.
    """

    logits: torch.Tensor
    mask: Optional[torch.BoolTensor] = None
    features: Optional[torch.Tensor] = None
    transitions: Optional[torch.Tensor] = None
    start: Optional[torch.Tensor] = None
    end: Optional[torch.Tensor] = None

    def potentials(self) -> Tuple[Optional[torch.Tensor], ...]:
        """The tensors the distribution is a function of: logits, transitions, start, end."""
        return self.logits, self.transitions, self.start, self.end

    def with_potentials(self, transform: Callable[[torch.Tensor], torch.Tensor]) -> "TaskOutput":
        """This output with `transform` applied to each potential present (e.g. detach, temperature)."""
        logits, transitions, start, end = (None if p is None else transform(p) for p in self.potentials())
        return self._replace(logits=logits, transitions=transitions, start=start, end=end)


class TaskNN(torch.nn.Module, Registrable):
    """A feedforward predictor x -> scores over y, the network used alone at test time.

    `forward(**inputs)` receives the model's input fields by name (every field of an instance
    except `labels` and `metadata`) and returns a `TaskOutput`.  The same class serves as the
    feature network of a `ScoreNN`'s local score.  Fully differentiable.

    Two optional hooks, read by `SealModel` from its task-net only (not from a score-net's feature
    network):

    - `penalty(output)`: a scalar regulariser of the task-net, a function of its output on the
      batch (and of its parameters), or `None` (the default).  `SealModel` adds it to the loss of
      the task-net step, the loss the trainer minimises (and the online unary scale's grid search
      probes), not to the validation loss nor to the score-net step's.
    - `get_metrics(reset)`: the task-net's own metrics (default none), reported with the model's.
    """

    def forward(self, **inputs) -> TaskOutput:  # type: ignore[override]
        raise NotImplementedError

    def penalty(self, output: TaskOutput) -> Optional[torch.Tensor]:
        """The regulariser added to the task-net step's loss for a batch with this `output`."""
        return None

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        return {}


def output_size(vocab: Vocabulary, label_namespace: str) -> int:
    """The number of labels (tags) a task-net scores: the size of `label_namespace`, which must not
    be empty."""
    size = vocab.get_vocab_size(label_namespace)
    if size < 1:
        raise ConfigurationError(f"the vocabulary has no labels in namespace {label_namespace!r}")
    return size
