import pytest
from allennlp.common.checks import ConfigurationError
from allennlp.data.dataset_readers.dataset_utils.span_utils import bioul_tags_to_spans

from seal.data.tag_schemes import span_decoder, tolerant_bioul_tags_to_spans


@pytest.mark.parametrize(
    "tags",
    [
        ["B-PER", "I-PER", "L-PER", "O", "U-LOC"],
        ["U-PER", "U-PER", "O", "B-ORG", "L-ORG"],
        ["O", "O"],
    ],
)
def test_tolerant_bioul_equals_allennlp_on_valid_tags(tags):
    assert sorted(tolerant_bioul_tags_to_spans(tags)) == sorted(bioul_tags_to_spans(tags))


@pytest.mark.parametrize(
    "tags, spans",
    [
        # An L without a B begins (and ends) a span; an unfinished B-I ends where the next begins.
        (["L-PER", "U-LOC"], [("PER", (0, 0)), ("LOC", (1, 1))]),
        (["B-PER", "I-PER", "U-LOC"], [("PER", (0, 1)), ("LOC", (2, 2))]),
        (["I-PER", "L-PER", "O"], [("PER", (0, 1))]),
        (["B-PER", "L-ORG"], [("PER", (0, 0)), ("ORG", (1, 1))]),
        (["B-PER"], [("PER", (0, 0))]),
    ],
)
def test_tolerant_bioul_reads_illegal_sequences(tags, spans):
    assert sorted(tolerant_bioul_tags_to_spans(tags), key=lambda s: s[1]) == spans


def test_span_decoder_ignores_classes_and_rejects_unknown_encodings():
    assert span_decoder("BIOUL")(["U-PER", "U-V"], ["V"]) == [("PER", (0, 0))]
    with pytest.raises(ConfigurationError, match="label_encoding must be one of"):
        span_decoder("BMES")
