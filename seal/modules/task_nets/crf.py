from typing import Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from seal.modules.task_nets.task_nn import TaskNN, TaskOutput, output_size


@TaskNN.register("linear-chain-crf")
class LinearChainCRFTaskNN(TaskNN):
    """A linear-chain CRF task-net: any tagger task-net's logits as the unary potentials, plus a
    learned `(num_tags, num_tags)` transition matrix (and optional start and end scores), returned
    in its `TaskOutput`; the `sequence-tags` output space then reads it as a `LinearChainCRF`, so
    every method samples from, scores the marginals of and decodes the CRF.

    The pairwise potentials start at 0: training begins from the tagger's factorised distribution.

    # Parameters
    vocab : `Vocabulary`
    unary : `TaskNN`
        A task-net returning logits `(batch, seq_len, num_tags)` and a prefix mask (`tagger`,
        `letter-cnn`).
    label_namespace : `str`, optional (default = `"labels"`)
    include_start_end : `bool`, optional (default = `True`)
        Also learn a score for the first and for the last tag of a sequence.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        unary: TaskNN,
        label_namespace: str = "labels",
        include_start_end: bool = True,
    ) -> None:
        super().__init__()
        num_tags = output_size(vocab, label_namespace)
        self.unary = unary
        self.transitions = torch.nn.Parameter(torch.zeros(num_tags, num_tags))
        self.start: Optional[torch.nn.Parameter] = None
        self.end: Optional[torch.nn.Parameter] = None
        if include_start_end:
            self.start = torch.nn.Parameter(torch.zeros(num_tags))
            self.end = torch.nn.Parameter(torch.zeros(num_tags))

    def forward(self, **inputs) -> TaskOutput:  # type: ignore[override]
        output = self.unary(**inputs)
        num_tags = self.transitions.size(0)
        if output.logits.dim() != 3 or output.logits.size(-1) != num_tags:
            raise ConfigurationError(
                f"linear-chain-crf: the unary task-net must return logits (batch, seq_len, {num_tags}), "
                f"got {tuple(output.logits.shape)}"
            )
        return output._replace(transitions=self.transitions, start=self.start, end=self.end)
