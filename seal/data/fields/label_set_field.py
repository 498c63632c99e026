"""A multi-hot label field whose vocabulary always holds the task's complete label set."""
from typing import Dict, Optional, Sequence

from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.data.fields import MultiLabelField

from seal.data.fields.vocab_check import model_labels, shown, unknown_labels_error


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
    - Indexing maps labels by name.  A label of `label_set` that the vocabulary lacks raises
      `ConfigurationError` naming it, `source` (the file) and the vocabulary's labels.  With
      `declared` (the data declares its label set, as an ARFF header does), so does a label of
      the vocabulary missing from `label_set`: the data says nothing about it, and scoring it as
      always absent would be a silent wrong answer.  Without `declared` (a label set collected
      from the labels a file uses), an unused label is simply absent.

    `as_tensor` is inherited: a `torch.long` vector of size `vocab.get_vocab_size(label_namespace)`
    with 1 at the positive labels and 0 elsewhere.
    """

    __slots__ = ["label_set", "source", "declared"]

    def __init__(
        self,
        labels: Sequence[str],
        label_set: Sequence[str],
        label_namespace: str = "labels",
        source: Optional[str] = None,
        declared: bool = True,
    ) -> None:
        unknown = [label for label in labels if label not in label_set]
        if unknown:
            raise ConfigurationError(
                f"Labels {unknown} are not in the label set {list(label_set)}."
            )
        super().__init__(labels, label_namespace=label_namespace)
        self.label_set = label_set
        self.source = source
        self.declared = declared

    def count_vocab_items(self, counter: Dict[str, Dict[str, int]]) -> None:
        """Counts every label of `label_set` once (positive or not), in `label_set` order."""
        namespace_counter = counter[self._label_namespace]
        for label in self.label_set:
            namespace_counter[label] += 1

    def index(self, vocab: Vocabulary) -> None:
        if self._label_ids is None:
            self._check_label_set(vocab)
        super().index(vocab)

    def _check_label_set(self, vocab: Vocabulary) -> None:
        known = model_labels(vocab, self._label_namespace)
        unknown = [label for label in self.label_set if label not in known]
        if unknown:
            raise unknown_labels_error(unknown, known, self._label_namespace, self.source)
        if self.declared and len(known) > len(self.label_set):
            declared = set(self.label_set)
            missing = [label for label in known if label not in declared]
            raise ConfigurationError(
                f"{self.source or 'the data'}: the model's labels {missing} are not labels of this data, "
                f"whose labels are {shown(self.label_set)}; data to evaluate must have every label the "
                "model knows (matched by name), or those labels would be scored as always absent"
            )

    def __str__(self) -> str:
        return (
            f"LabelSetField with labels: {self.labels} of {len(self.label_set)} "
            f"in namespace: '{self._label_namespace}'."
        )
