from typing import Any, Dict, List, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.training.metrics import Metric

from seal.metrics import ExampleF1, HammingLoss, MultilabelMicroMacroF1, PrecisionAtK
from seal.modules.distributions import Bernoulli
from seal.modules.output_spaces.output_space import OutputSpace
from seal.modules.task_nets.task_nn import TaskOutput

_EPSILON = 1e-6


@OutputSpace.register("multi-label")
class MultiLabelOutputSpace(OutputSpace):
    """A set of labels: `y` is a vector of `num_labels` independent binary decisions.

    `label_shape == (num_labels,)`, no mask.  Relaxed `y` lies in the cube [0, 1]^num_labels;
    the task-net's distribution is a product of Bernoullis with probabilities `sigmoid(logits)`
    (`Bernoulli`).

    # Parameters
    threshold : `float`, optional (default = `0.5`)
        A label is predicted when its probability is at least `threshold`.
    label_namespace : `str`, optional (default = `"labels"`)
        The vocabulary namespace of the label names, for human-readable output.
    precision_at : `List[int]`, optional (default = `None`)
        Also report precision at these k (`p@k`, from the raw probabilities, no threshold).
    top_k : `int`, optional (default = `0`)
        Human-readable output also lists the `top_k` most probable labels with their
        probabilities (`top_labels`), for label sets too large to read whole.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        label_namespace: str = "labels",
        precision_at: Optional[List[int]] = None,
        top_k: int = 0,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ConfigurationError(f"multi-label threshold must lie in (0, 1), got {threshold}")
        if top_k < 0:
            raise ConfigurationError(f"multi-label top_k must be >= 0, got {top_k}")
        self.threshold = threshold
        self.label_namespace = label_namespace
        self.precision_at = list(precision_at or [])
        self.top_k = top_k

    def distribution(self, task_output: TaskOutput) -> Bernoulli:
        if task_output.transitions is not None:
            raise ConfigurationError("multi-label outputs have no pairwise potentials: a task-net returning "
                                     "transitions needs the 'sequence-tags' output space")
        return Bernoulli(task_output.logits)

    def log_potentials(self, probabilities):
        return torch.logit(probabilities)

    def project(self, y):
        return y.clamp(0.0, 1.0)

    def ascent_step(self, y, gradient, step_size, method):
        if method == "projected":
            return self.project(y + step_size * gradient)
        if method == "entropic":
            # Mirror ascent with the binary entropy: a gradient step on the logits of y.
            y = y.clamp(_EPSILON, 1.0 - _EPSILON)
            return torch.sigmoid(torch.logit(y) + step_size * gradient)
        raise ConfigurationError(f"unknown ascent method {method!r}: use 'projected' or 'entropic'")

    def uniform(self, like):
        return torch.full_like(like, 0.5)

    def decode(self, probabilities, mask=None):
        return (probabilities >= self.threshold).to(probabilities.dtype)

    def num_decisions(self, mask, labels):
        return torch.full(labels.shape[:1], labels.shape[-1], dtype=labels.dtype, device=labels.device)

    def default_metrics(self, vocab: Vocabulary) -> Dict[str, Metric]:
        return {
            "example_f1": ExampleF1(self.threshold),
            "micro_macro_f1": MultilabelMicroMacroF1(self.threshold),
            "hamming_loss": HammingLoss(self.threshold),
            **({"precision_at_k": PrecisionAtK(self.precision_at)} if self.precision_at else {}),
        }

    def human_readable(self, probabilities, vocab: Vocabulary, mask=None, predictions=None) -> List[Dict[str, Any]]:
        names = vocab.get_index_to_token_vocabulary(self.label_namespace)
        readable = []
        for row in probabilities.detach().cpu().tolist():
            scores = {names[i]: round(p, 6) for i, p in enumerate(row)}
            predicted = [names[i] for i, p in enumerate(row) if p >= self.threshold]
            prediction = {"predicted_labels": predicted, "label_probabilities": scores}
            if self.top_k:
                ranked = sorted(scores.items(), key=lambda item: -item[1])[: self.top_k]
                prediction["top_labels"] = [{"label": name, "probability": p} for name, p in ranked]
            readable.append(prediction)
        return readable
