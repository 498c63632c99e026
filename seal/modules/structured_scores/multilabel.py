from typing import Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.nn import Activation

from seal.modules.structured_scores.structured_score import StructuredScore


@StructuredScore.register("label-mlp")
class LabelMLPScore(StructuredScore):
    """SPEN's global label energy (Belanger & McCallum, 2016), as a score:
    `score(y) = w . act(C y + D features)`, with `C` `(hidden_dim, num_labels)`; the `D features`
    term is present only when `feature_dim` is given (a score conditioned on `x`).

    Shapes as in `StructuredScore`, `label_shape == (num_labels,)`.

    # Parameters
    vocab : `Vocabulary`
    hidden_dim : `int`
        Number of learned label-interaction measurements (rows of `C`).
    activation : `Activation`, optional (default = `softplus`)
    feature_dim : `int`, optional
        Dimension of the score-net's features; when set, the hidden layer is conditioned on `x`.
    label_namespace : `str`, optional (default = `"labels"`)
    """

    def __init__(
        self,
        vocab: Vocabulary,
        hidden_dim: int,
        activation: Activation = None,
        feature_dim: Optional[int] = None,
        label_namespace: str = "labels",
    ) -> None:
        super().__init__()
        num_labels = vocab.get_vocab_size(label_namespace)
        self.label_projection = torch.nn.Linear(num_labels, hidden_dim, bias=feature_dim is None)
        self.feature_projection = (
            torch.nn.Linear(feature_dim, hidden_dim) if feature_dim is not None else None
        )
        self.activation = activation or torch.nn.Softplus()
        self.output = torch.nn.Linear(hidden_dim, 1, bias=False)

    def forward(self, y, mask=None, features=None):
        hidden = self.label_projection(y)
        if self.feature_projection is not None:
            if features is None:
                raise ConfigurationError("label-mlp with feature_dim needs features from the score-net")
            hidden = hidden + self.feature_projection(features).unsqueeze(1)
        return self.output(self.activation(hidden)).squeeze(-1)


@StructuredScore.register("label-pairwise")
class LabelPairwiseScore(StructuredScore):
    """Pairwise label interactions: `score(y) = sum_{i != j} y_i W_ij y_j`.

    With discrete `y` this is the sum of `W_ij` over pairs of co-occurring labels (each unordered
    pair counted as `W_ij + W_ji`).  `W` starts at zero.  Shapes as in `StructuredScore`.
    """

    def __init__(self, vocab: Vocabulary, label_namespace: str = "labels") -> None:
        super().__init__()
        num_labels = vocab.get_vocab_size(label_namespace)
        self.weights = torch.nn.Parameter(torch.zeros(num_labels, num_labels))
        self.register_buffer("off_diagonal", 1.0 - torch.eye(num_labels), persistent=False)

    def forward(self, y, mask=None, features=None):
        weights = self.weights * self.off_diagonal
        return torch.einsum("bni,ij,bnj->bn", y, weights, y)
