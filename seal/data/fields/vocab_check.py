"""What a label field checks when it is indexed with a model's vocabulary: AllenNLP would raise a
bare `KeyError` for a label the vocabulary lacks, or map it to OOV in a padded namespace."""
from typing import Collection, List, Optional

from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

_SHOWN = 40  # known labels listed in a message at most


def model_labels(vocab: Vocabulary, namespace: str) -> Collection[str]:
    """The labels of `namespace` (a dict view, no copy), without the padding and OOV tokens."""
    known = vocab.get_token_to_index_vocabulary(namespace)
    if vocab._padding_token in known or vocab._oov_token in known:
        return [label for label in known if label not in (vocab._padding_token, vocab._oov_token)]
    return known.keys()


def unknown_labels_error(
    unknown: List[str], known: Collection[str], namespace: str, source: Optional[str], what: str = "labels"
) -> ConfigurationError:
    """Names the labels the model does not know, where they come from, and what it knows."""
    return ConfigurationError(
        f"{source or 'the data'}: {what} {unknown} are unknown to the model, which knows the "
        f"{len(known)} {what} {shown(known)} (vocabulary namespace {namespace!r})"
    )


def shown(labels: Collection[str]) -> str:
    """`labels` as a list, cut after `_SHOWN` of them."""
    labels = list(labels)
    if len(labels) <= _SHOWN:
        return str(labels)
    return str(labels[:_SHOWN])[:-1] + f", ... ({len(labels) - _SHOWN} more)]"
