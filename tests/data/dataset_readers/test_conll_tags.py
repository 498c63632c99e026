"""ConllTagsDatasetReader on WNUT-16 excerpts, a hand-written CoNLL-2003 file and bad files."""
import gzip
import shutil
from pathlib import Path

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.data.dataset_readers import Conll2003DatasetReader
from allennlp.data.dataset_readers.dataset_utils.span_utils import (
    bio_tags_to_spans,
    bioul_tags_to_spans,
    iob1_tags_to_spans,
    to_bioul,
)

from seal.data import ConllTagsDatasetReader
from seal.data.dataset_readers.conll_tags import convert_tags

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "fixtures" / "conll"
WNUT = FIXTURES / "wnut16_small"
CONLL2003 = FIXTURES / "conll2003_small.txt"
BAD = FIXTURES / "bad"
DATA_WNUT = REPO / "data" / "wnut16"

CONLL2003_WORDS = [
    ["Anna", "Schmidt", "met", "Karl", "in", "Paris", "."],
    ["Lisbon", "Porto", "and", "Faro", "host", "the", "European", "Cup", "."],
    ["Acme", "Corp", "signed", "with", "NASA", "on", "Monday", "."],
]
CONLL2003_BIOUL = [
    ["B-PER", "L-PER", "O", "U-PER", "O", "U-LOC", "O"],
    ["U-LOC", "U-LOC", "O", "U-LOC", "O", "O", "B-MISC", "L-MISC", "O"],
    ["B-ORG", "L-ORG", "O", "O", "U-ORG", "O", "O", "O"],
]
CONLL2003_BIO = [
    ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "O"],
    ["B-LOC", "B-LOC", "O", "B-LOC", "O", "O", "B-MISC", "I-MISC", "O"],
    ["B-ORG", "I-ORG", "O", "O", "B-ORG", "O", "O", "O"],
]


def read(path, **kwargs):
    return list(ConllTagsDatasetReader(**kwargs).read(str(path)))


def words(instances):
    return [instance["metadata"]["words"] for instance in instances]


def labels(instances):
    return [list(instance["tags"].labels) for instance in instances]


def file_sentences(path):
    """(tokens, tags) of a two-column tab file, parsed independently of the reader."""
    blocks = Path(path).read_text(encoding="utf-8").strip("\n").split("\n\n")
    rows = [[line.split("\t") for line in block.split("\n")] for block in blocks]
    return [([r[0] for r in block], [r[1] for r in block]) for block in rows]


# ----------------------------------------------------------------------------- known values


def test_bio_to_bioul_on_a_hand_written_sentence():
    reader = ConllTagsDatasetReader()
    instance = reader.text_to_instance(["Anna", "Schmidt", "visits", "Paris"], ["B-PER", "I-PER", "O", "B-LOC"])
    assert set(instance.fields) == {"tokens", "tags", "metadata"}
    assert list(instance["tags"].labels) == ["B-PER", "L-PER", "O", "U-LOC"]
    assert instance["tags"]._label_namespace == "labels"
    assert [token.text for token in instance["tokens"].tokens] == ["Anna", "Schmidt", "visits", "Paris"]
    assert instance["metadata"].metadata == {
        "words": ["Anna", "Schmidt", "visits", "Paris"],
        "gold_tags": ["B-PER", "L-PER", "O", "U-LOC"],
    }


def test_without_tags_there_is_no_label_field():
    instance = ConllTagsDatasetReader().text_to_instance(["just", "words"])
    assert set(instance.fields) == {"tokens", "metadata"}
    assert instance["metadata"].metadata == {"words": ["just", "words"]}


def test_bio_output_round_trip_on_wnut_fixture():
    for split in ("train", "dev", "test"):
        expected = file_sentences(WNUT / f"{split}.conll")
        bio = read(WNUT / f"{split}.conll", coding_scheme="BIO")
        bioul = read(WNUT / f"{split}.conll")
        assert words(bio) == [tokens for tokens, _ in expected]
        assert labels(bio) == [tags for _, tags in expected]
        assert labels(bioul) == [to_bioul(tags, encoding="BIO") for _, tags in expected]
        for bio_tags, bioul_tags in zip(labels(bio), labels(bioul)):
            assert convert_tags(bioul_tags, "BIOUL", "BIO") == bio_tags
            assert sorted(bio_tags_to_spans(bio_tags)) == sorted(bioul_tags_to_spans(bioul_tags))


@pytest.mark.parametrize(
    "tags, bioul, bio",
    [
        (["O", "I-PER", "I-PER", "O"], ["O", "B-PER", "L-PER", "O"], ["O", "B-PER", "I-PER", "O"]),
        (["I-PER", "O"], ["U-PER", "O"], ["B-PER", "O"]),
        (["B-PER", "I-LOC", "I-LOC"], ["U-PER", "B-LOC", "L-LOC"], ["B-PER", "B-LOC", "I-LOC"]),
    ],
)
def test_illegal_bio_transitions_begin_a_span_as_in_allennlp(tags, bioul, bio):
    tokens = ["w"] * len(tags)
    assert labels([ConllTagsDatasetReader().text_to_instance(tokens, tags)]) == [bioul]
    assert labels([ConllTagsDatasetReader(coding_scheme="BIO").text_to_instance(tokens, tags)]) == [bio]
    assert to_bioul(tags, encoding="IOB1") == bioul  # AllenNLP's reading of such an I- tag
    assert sorted(bio_tags_to_spans(tags)) == sorted(bioul_tags_to_spans(bioul))


@pytest.mark.parametrize(
    "tags, bio",
    [
        (["B-PER", "L-PER", "O", "U-LOC", "U-LOC"], ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]),
        (["B-PER", "I-PER", "I-PER", "L-PER"], ["B-PER", "I-PER", "I-PER", "I-PER"]),
        (["B-PER", "O", "L-LOC", "I-LOC"], ["B-PER", "O", "B-LOC", "B-LOC"]),  # ill-formed: L ends
    ],
)
def test_bioul_input(tags, bio):
    tokens = ["w"] * len(tags)
    reader = ConllTagsDatasetReader(tag_scheme="BIOUL", coding_scheme="BIO")
    assert labels([reader.text_to_instance(tokens, tags)]) == [bio]
    bioul = labels([ConllTagsDatasetReader(tag_scheme="BIOUL").text_to_instance(tokens, tags)])[0]
    assert bioul == to_bioul(bio, encoding="BIO")


def test_iob1_input_and_docstart_skipped():
    bioul = read(CONLL2003, tag_scheme="IOB1")
    assert words(bioul) == CONLL2003_WORDS  # both -DOCSTART- lines and their blank lines skipped
    assert labels(bioul) == CONLL2003_BIOUL
    assert labels(read(CONLL2003, tag_scheme="IOB1", coding_scheme="BIO")) == CONLL2003_BIO


def test_same_as_allennlp_conll2003_reader():
    allennlp_iob1 = list(Conll2003DatasetReader().read(str(CONLL2003)))
    allennlp_bioul = list(Conll2003DatasetReader(convert_to_coding_scheme="BIOUL").read(str(CONLL2003)))
    ours_bioul = read(CONLL2003, tag_scheme="IOB1")
    ours_bio = read(CONLL2003, tag_scheme="IOB1", coding_scheme="BIO")
    assert words(ours_bioul) == [i["metadata"]["words"] for i in allennlp_iob1]
    assert labels(ours_bioul) == [list(i["tags"].labels) for i in allennlp_bioul]
    for theirs, bio in zip(allennlp_iob1, ours_bio):
        iob1 = list(theirs["tags"].labels)
        assert convert_tags(iob1, "IOB1", "BIO") == list(bio["tags"].labels)
        assert sorted(iob1_tags_to_spans(iob1)) == sorted(bio_tags_to_spans(list(bio["tags"].labels)))


def test_other_columns_same_as_allennlp_chunk_tags():
    """token_column/tag_column pick any columns: the chunk tags (column 2, IOB1)."""
    ours = read(CONLL2003, tag_column=2, tag_scheme="IOB1")
    theirs = Conll2003DatasetReader(tag_label="chunk", convert_to_coding_scheme="BIOUL").read(str(CONLL2003))
    assert labels(ours) == [list(i["tags"].labels) for i in theirs]
    pos_as_tokens = read(CONLL2003, token_column=1, tag_scheme="IOB1")
    assert words(pos_as_tokens)[0] == ["NNP", "NNP", "VBD", "NNP", "IN", "NNP", "."]


def test_blank_lines_whitespace_and_crlf(tmp_path):
    path = tmp_path / "messy.conll"
    path.write_bytes(
        b"\n\n-DOCSTART-\tO\n\nAnna\tB-person\r\nSchmidt\tI-person\r\n\r\n \t \n\n"
        b"hi  O\nthere O\n\n\n\n"
    )
    instances = read(path)
    assert words(instances) == [["Anna", "Schmidt"], ["hi", "there"]]
    assert labels(instances) == [["B-person", "L-person"], ["O", "O"]]
    path.write_text("last\tO\nline\tB-other", encoding="utf-8")  # no newline at the end
    assert labels(read(path)) == [["O", "U-other"]]


def test_wnut_fixture_sizes_and_entities():
    train = read(WNUT / "train.conll", coding_scheme="BIO")
    assert [len(read(WNUT / f"{split}.conll")) for split in ("train", "dev", "test")] == [15, 6, 6]
    spans = [(label, words(train)[i][start:end + 1])
             for i, tags in enumerate(labels(train)) for label, (start, end) in bio_tags_to_spans(tags)]
    assert {label for label, _ in spans} >= {"company", "person", "other", "tvshow"}
    assert ("other", ["london", "fashion", "week"]) in spans
    assert words(train)[0][:2] == ["Pxleyes", "Top"]


def test_gzip_gives_the_same_instances(tmp_path):
    gz_path = tmp_path / "train.conll.gz"
    with open(WNUT / "train.conll", "rb") as source, gzip.open(gz_path, "wb") as target:
        shutil.copyfileobj(source, target)
    plain, zipped = read(WNUT / "train.conll"), read(gz_path)
    assert words(zipped) == words(plain)
    assert labels(zipped) == labels(plain)


def test_max_tokens_cuts_before_recoding():
    reader = ConllTagsDatasetReader(max_tokens=2)
    instance = reader.text_to_instance(["Anna", "Maria", "Schmidt"], ["B-PER", "I-PER", "I-PER"])
    assert list(instance["tags"].labels) == ["B-PER", "L-PER"]
    assert instance["metadata"]["words"] == ["Anna", "Maria"]
    assert max(len(w) for w in words(read(WNUT / "train.conll", max_tokens=5))) == 5
    assert max(len(w) for w in words(read(WNUT / "train.conll"))) > 5


# --------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "name, line, problem",
    [
        ("too_few_columns.conll", 6, "expected at least 2 columns"),
        ("bad_prefix.conll", 6, "tag 'X-person' is not a valid BIO tag"),
        ("no_prefix.conll", 3, "tag 'person' is not a valid BIO tag"),
        ("bioul_tag_in_bio.conll", 5, "tag 'U-person' is not a valid BIO tag"),
    ],
)
def test_bad_file_names_file_line_and_problem(name, line, problem, tmp_path):
    with pytest.raises(ConfigurationError) as error:
        list(ConllTagsDatasetReader().read(str(BAD / name)))
    message = str(error.value.message)
    assert f"{BAD / name}, line {line}: " in message
    assert problem in message
    gz_path = tmp_path / (name + ".gz")
    gz_path.write_bytes(gzip.compress((BAD / name).read_bytes()))
    with pytest.raises(ConfigurationError, match=f"{name}.gz, line {line}: "):
        list(ConllTagsDatasetReader().read(str(gz_path)))


def test_bioul_tag_valid_when_declared():
    assert labels(read(BAD / "bioul_tag_in_bio.conll", tag_scheme="BIOUL"))[1] == ["U-person"]


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"tag_scheme": "IOB2"}, "Unknown tag_scheme .IOB2.; expected one of .*, or null"),
        ({"coding_scheme": "IOB1"}, "Unknown coding_scheme 'IOB1'"),
        ({"token_column": 1, "tag_column": 1}, "both 1"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_bad_constructor_arguments(kwargs, problem):
    with pytest.raises(ConfigurationError, match=problem):
        ConllTagsDatasetReader(**kwargs)


@pytest.mark.parametrize(
    "tokens, tags, problem",
    [
        (["a", "b"], ["O"], "2 tokens but 1 tags"),
        (["a"], ["B_PER"], "not a valid BIO tag"),
        ([], None, "at least one token"),
    ],
)
def test_text_to_instance_rejects_bad_input(tokens, tags, problem):
    with pytest.raises(ConfigurationError, match=problem):
        ConllTagsDatasetReader().text_to_instance(tokens, tags)


# ---------------------------------------------------------------------- AllenNLP integration


def test_registered_and_batched():
    reader = DatasetReader.from_params(
        Params({"type": "conll-tags", "coding_scheme": "BIO", "label_namespace": "ner", "max_instances": 3})
    )
    assert isinstance(reader, ConllTagsDatasetReader)
    instances = list(reader.read(str(WNUT / "train.conll")))
    assert len(instances) == 3
    vocab = Vocabulary.from_instances(instances)
    assert "B-company" in vocab.get_token_to_index_vocabulary("ner")
    batch = Batch(instances)
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    lengths = [len(instance["metadata"]["words"]) for instance in instances]
    assert tensors["tokens"]["tokens"]["tokens"].shape == (3, max(lengths))
    assert tensors["tags"].shape == (3, max(lengths))


def test_real_wnut16_split_sizes():
    sizes = [len(read(DATA_WNUT / f"{split}.conll.gz")) for split in ("train", "dev", "test")]
    assert sizes == [1914, 240, 240]


# ------------------------------------------------------------- plain tags (part of speech)

BROWN = FIXTURES / "brown_pos_small"


def test_plain_tags_are_kept_verbatim_on_the_brown_fixture():
    for split, count in (("train", 30), ("dev", 10), ("test", 10)):
        expected = file_sentences(BROWN / f"{split}.conll")
        instances = read(BROWN / f"{split}.conll", tag_scheme=None)
        assert len(instances) == count
        assert words(instances) == [tokens for tokens, _ in expected]
        assert labels(instances) == [tags for _, tags in expected]
        assert [i["metadata"]["gold_tags"] for i in instances] == labels(instances)
    first = read(BROWN / "train.conll", tag_scheme=None)[0]
    assert words([first])[0][:5] == ["The", "September-October", "term", "jury", "had"]
    assert labels([first])[0][:5] == ["at", "np", "nn", "nn", "hvd"]


@pytest.mark.parametrize("tags", [["B-PER", "I-PER", "O"], ["nn", "B", "I-", "O-x"], ["ppss+md", "``", "."]])
def test_plain_tags_are_not_read_as_spans(tags):
    """Tags that look like span tags stay as written: nothing is recoded to BIOUL."""
    instance = ConllTagsDatasetReader(tag_scheme=None).text_to_instance(["w"] * len(tags), tags)
    assert list(instance["tags"].labels) == tags


def test_plain_tags_from_a_config_with_null_scheme():
    reader = DatasetReader.from_params(Params({"type": "conll-tags", "tag_scheme": None, "max_instances": 2}))
    expected = [tags for _, tags in file_sentences(BROWN / "dev.conll")[:2]]
    assert labels(list(reader.read(str(BROWN / "dev.conll")))) == expected


def test_plain_tags_refuse_recoding_and_empty_tags():
    with pytest.raises(ConfigurationError, match="coding_scheme 'BIOUL' recodes spans, but tag_scheme is null"):
        ConllTagsDatasetReader(tag_scheme=None, coding_scheme="BIOUL")
    with pytest.raises(ConfigurationError, match="The tag is empty"):
        ConllTagsDatasetReader(tag_scheme=None).text_to_instance(["a", "b"], ["nn", ""])
    with pytest.raises(ConfigurationError, match="cannot recode plain tags to BIOUL tags"):
        convert_tags(["nn"], None, "BIOUL")


def test_a_span_scheme_refuses_part_of_speech_tags():
    with pytest.raises(ConfigurationError, match=r"train.conll, line 1: tag 'at' is not a valid BIO tag"):
        read(BROWN / "train.conll")
