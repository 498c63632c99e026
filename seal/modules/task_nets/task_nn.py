from typing import NamedTuple, Optional

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
    """

    logits: torch.Tensor
    mask: Optional[torch.BoolTensor] = None
    features: Optional[torch.Tensor] = None


class TaskNN(torch.nn.Module, Registrable):
    """A feedforward predictor x -> scores over y, the network used alone at test time.

    `forward(**inputs)` receives the model's input fields by name (every field of an instance
    except `labels` and `metadata`) and returns a `TaskOutput`.  The same class serves as the
    feature network of a `ScoreNN`'s local score.  Fully differentiable.
    """

    def forward(self, **inputs) -> TaskOutput:  # type: ignore[override]
        raise NotImplementedError


def output_size(vocab: Vocabulary, label_namespace: str) -> int:
    """The number of labels (tags) a task-net scores: the size of `label_namespace`, which must not
    be empty."""
    size = vocab.get_vocab_size(label_namespace)
    if size < 1:
        raise ConfigurationError(f"the vocabulary has no labels in namespace {label_namespace!r}")
    return size
