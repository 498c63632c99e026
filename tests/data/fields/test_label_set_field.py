"""LabelSetField: multi-hot over the full label set; the vocabulary holds every label in order."""
from collections import defaultdict

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, Instance, Vocabulary

from seal.data.fields import LabelSetField

# Deliberately not alphabetical, so the test sees insertion order and not sorted order.
LABEL_SET = ("b", "c", "a")


def make_instances(namespace="labels"):
    """Two instances; "c" is never a positive label."""
    return [
        Instance({"labels": LabelSetField(["b"], LABEL_SET, namespace)}),
        Instance({"labels": LabelSetField(["a", "b"], LABEL_SET, namespace)}),
    ]


def test_vocabulary_holds_full_label_set_in_order():
    vocab = Vocabulary.from_instances(make_instances())
    assert vocab.get_index_to_token_vocabulary("labels") == {0: "b", 1: "c", 2: "a"}


def test_tensor_is_multi_hot_over_label_set():
    instances = make_instances()
    vocab = Vocabulary.from_instances(instances)
    batch = Batch(instances)
    batch.index_instances(vocab)
    labels = batch.as_tensor_dict()["labels"]
    assert labels.tolist() == [[1, 0, 0], [1, 0, 1]]
    assert labels.dtype == torch.long


def test_custom_namespace():
    vocab = Vocabulary.from_instances(make_instances("tags"))
    assert vocab.get_index_to_token_vocabulary("tags") == {0: "b", 1: "c", 2: "a"}


def test_no_positive_label_gives_zeros():
    field = LabelSetField([], LABEL_SET)
    vocab = Vocabulary.from_instances([Instance({"labels": field})])
    field.index(vocab)
    assert field.as_tensor(field.get_padding_lengths()).tolist() == [0, 0, 0]


def test_counts_every_label_once():
    counter = defaultdict(lambda: defaultdict(int))
    LabelSetField(["a"], LABEL_SET).count_vocab_items(counter)
    assert dict(counter["labels"]) == {"b": 1, "c": 1, "a": 1}


def test_label_outside_label_set_is_rejected():
    with pytest.raises(ConfigurationError, match="'z'"):
        LabelSetField(["a", "z"], LABEL_SET)


def test_label_set_is_shared_not_copied():
    field = LabelSetField(["a"], LABEL_SET)
    assert field.label_set is LABEL_SET
    assert field.human_readable_repr() == ["a"]
