"""A sequence label field that names the tag, its source and the model's tags when a tag is unknown."""
from typing import List, Optional, Union

from allennlp.data import Vocabulary
from allennlp.data.fields import SequenceField, SequenceLabelField

from seal.data.fields.vocab_check import model_labels, unknown_labels_error


class SequenceTagsField(SequenceLabelField):
    """
    A `SequenceLabelField` (one tag per element of `sequence_field`) whose string tags must all be
    in the vocabulary it is indexed with: an unknown one (e.g. `evaluate` on a file with a tag
    the model never saw) raises `ConfigurationError` naming the tag, `source` (file and line of
    the instance) and the model's tags, where AllenNLP raises a bare `KeyError` (or maps it to
    OOV in a padded namespace).
    """

    __slots__ = ["source"]

    def __init__(
        self,
        labels: Union[List[str], List[int]],
        sequence_field: SequenceField,
        label_namespace: str = "labels",
        source: Optional[str] = None,
    ) -> None:
        super().__init__(labels, sequence_field, label_namespace)
        self.source = source

    def index(self, vocab: Vocabulary) -> None:
        if not self._skip_indexing:
            known = model_labels(vocab, self._label_namespace)
            unknown = list(dict.fromkeys(tag for tag in self.labels if tag not in known))
            if unknown:
                raise unknown_labels_error(unknown, known, self._label_namespace, self.source, what="tags")
        super().index(vocab)
