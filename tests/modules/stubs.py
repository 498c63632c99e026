"""Small deterministic building blocks shared by the module tests."""
from typing import Optional

import torch
from allennlp.data import Vocabulary

from seal.modules.task_nets import TaskNN, TaskOutput


def label_vocab(num_labels: int) -> Vocabulary:
    """A vocabulary whose "labels" namespace holds `num_labels` labels (no padding/OOV there)."""
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace([f"label{i}" for i in range(num_labels)], "labels")
    return vocab


class FixedTaskNN(TaskNN):
    """A task-net ignoring its inputs: returns fixed `logits` `(batch, *label_shape)`, and
    `features` when given.  The logits are a parameter so tests can check their gradients."""

    def __init__(self, logits: torch.Tensor, features: Optional[torch.Tensor] = None, mask=None) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.as_tensor(logits, dtype=torch.float))
        self.features = features
        self.mask = mask

    def forward(self, **unused) -> TaskOutput:  # type: ignore[override]
        return TaskOutput(self.logits, self.mask, self.features)
