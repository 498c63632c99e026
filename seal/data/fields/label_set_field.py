"""A multi-hot label field whose vocabulary always holds the task's complete label set."""
from typing import Dict, Sequence

from allennlp.common.checks import ConfigurationError
from allennlp.data.fields import MultiLabelField


class LabelSetField(MultiLabelField):
    """
    A multi-hot vector over a task's complete label set.

    `labels` are the positive labels of one instance; `label_set` is the full, ordered list of
    labels of the task (every instance of a data set should pass the same `label_set`, ideally the
    same object, which this field stores without copying).

    Contract, compared to `MultiLabelField`:

    - `count_vocab_items` counts every label of `label_set` exactly once, whether positive or
      not. A vocabulary built from any number of these instances therefore contains the whole
      label set, even labels that are never positive, and because every label gets the same
      count and AllenNLP sorts counts with a stable sort, label index `i` in `label_namespace`
      is `label_set[i]` (provided nothing else adds to that namespace).
    - Every label of `labels` must be in `label_set`, else `ConfigurationError`.

    `as_tensor` is inherited: a `torch.long` vector of size `vocab.get_vocab_size(label_namespace)`
    with 1 at the positive labels and 0 elsewhere.
    """

    __slots__ = ["label_set"]

    def __init__(
        self, labels: Sequence[str], label_set: Sequence[str], label_namespace: str = "labels"
    ) -> None:
        unknown = [label for label in labels if label not in label_set]
        if unknown:
            raise ConfigurationError(
                f"Labels {unknown} are not in the label set {list(label_set)}."
            )
        super().__init__(labels, label_namespace=label_namespace)
        self.label_set = label_set

    def count_vocab_items(self, counter: Dict[str, Dict[str, int]]) -> None:
        """Counts every label of `label_set` once (positive or not), in `label_set` order."""
        namespace_counter = counter[self._label_namespace]
        for label in self.label_set:
            namespace_counter[label] += 1

    def __str__(self) -> str:
        return (
            f"LabelSetField with labels: {self.labels} of {len(self.label_set)} "
            f"in namespace: '{self._label_namespace}'."
        )
