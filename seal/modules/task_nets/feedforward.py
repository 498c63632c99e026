
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.modules import FeedForward

from seal.modules.task_nets.task_nn import TaskNN, TaskOutput, output_size


@TaskNN.register("feedforward")
class FeedForwardTaskNN(TaskNN):
    """A multi-layer perceptron over a dense feature vector, with one logit per label.

    Input field `x`: `(batch, input_dim)` float.  Output logits `(batch, num_labels)` where
    `num_labels` is the size of the vocabulary namespace `label_namespace`; `features` is the last
    hidden layer `(batch, feedforward.get_output_dim())`.

    # Parameters
    vocab : `Vocabulary`
    feedforward : `FeedForward`
        The hidden layers; its input dimension must equal the number of features.
    dropout : `float`, optional (default = `0.0`)
        Dropout before the label layer.
    label_namespace : `str`, optional (default = `"labels"`)
    """

    def __init__(
        self,
        vocab: Vocabulary,
        feedforward: FeedForward,
        dropout: float = 0.0,
        label_namespace: str = "labels",
    ) -> None:
        super().__init__()
        num_labels = output_size(vocab, label_namespace)
        self.feedforward = feedforward
        self.dropout = torch.nn.Dropout(dropout)
        self.label_layer = torch.nn.Linear(feedforward.get_output_dim(), num_labels)

    def forward(self, x: torch.Tensor, **unused) -> TaskOutput:  # type: ignore[override]
        if x.dim() != 2 or x.size(1) != self.feedforward.get_input_dim():
            raise ConfigurationError(
                f"feedforward task-net expects x of shape (batch, {self.feedforward.get_input_dim()}), "
                f"got {tuple(x.shape)}: check feedforward.input_dim against the data's feature count"
            )
        features = self.feedforward(x)
        return TaskOutput(self.label_layer(self.dropout(features)), None, features)
