"""TextMultilabelReader on debtags excerpts, AAPD/RCV1/NYT-like files and bad files."""
import gzip
import json
import shutil
from pathlib import Path

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.data.tokenizers import PretrainedTransformerTokenizer, WhitespaceTokenizer

from scripts.tiny_bert import write_tiny_bert
from seal.data import LabelSetField, TextMultilabelReader

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "fixtures" / "text_multilabel"
DEBTAGS = FIXTURES / "debtags_small"
BAD = FIXTURES / "bad"
REAL_DEBTAGS = REPO / "data" / "debtags"


def json_lines(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def read(path, reader=None, **kwargs):
    reader = reader or TextMultilabelReader(**kwargs)
    return list(reader.read(str(path)))


def texts(instances):
    return [instance["metadata"]["text"] for instance in instances]


def gold(instances):
    return [list(instance["labels"].labels) for instance in instances]


def multi_hot(instances):
    """The `labels` tensors after indexing with a vocabulary built from the instances, and it."""
    vocab = Vocabulary.from_instances(instances)
    batch = Batch(instances)
    batch.index_instances(vocab)
    return batch.as_tensor_dict()["labels"].tolist(), vocab


def assert_multi_hot(instances, label_set):
    rows, vocab = multi_hot(instances)
    assert [vocab.get_token_from_index(i, "labels") for i in range(len(label_set))] == label_set
    assert vocab.get_vocab_size("labels") == len(label_set)
    expected = [[int(label in labels) for label in label_set] for labels in gold(instances)]
    assert rows == expected


# --------------------------------------------------------------------------------- layouts


def test_debtags_collected_label_set_from_train():
    reader = TextMultilabelReader()
    instances = read(DEBTAGS / "train.jsonl", reader)
    lines = json_lines(DEBTAGS / "train.jsonl")
    assert texts(instances) == [f"{d['title'].strip()} . {d['text'].strip()}" for d in lines]
    assert gold(instances) == [d["labels"] for d in lines]
    assert [instance["metadata"]["id"] for instance in instances] == [d["id"] for d in lines]
    label_set = sorted({label for d in lines for label in d["labels"]})
    assert reader.label_set == label_set
    assert all(instance["labels"].label_set is reader.label_set for instance in instances)
    assert_multi_hot(instances, label_set)


def test_debtags_label_file_for_all_splits():
    label_set = (DEBTAGS / "labels.txt").read_text().split()
    reader = TextMultilabelReader(label_file=str(DEBTAGS / "labels.txt"))
    instances = [i for split in ("train", "dev", "test") for i in read(DEBTAGS / f"{split}.jsonl", reader)]
    assert len(instances) == 16
    assert reader.label_set == label_set
    assert len({id(instance["labels"].label_set) for instance in instances}) == 1
    assert_multi_hot(instances, label_set)


def test_label_set_keeps_label_file_order(tmp_path):
    order = ["x11::application", "role::program", "game::strategy"] + [
        label for label in (DEBTAGS / "labels.txt").read_text().split()
        if label not in ("x11::application", "role::program", "game::strategy")
    ]
    (tmp_path / "labels.txt").write_text("\n".join(order) + "\n\n")
    instances = read(DEBTAGS / "train.jsonl", label_file=str(tmp_path / "labels.txt"))
    assert_multi_hot(instances, order)


def test_unseen_label_in_a_later_file_names_file_line_and_label_file():
    reader = TextMultilabelReader()
    train_labels = set(read(DEBTAGS / "train.jsonl", reader)[0]["labels"].label_set)
    line = next(n for n, d in enumerate(json_lines(DEBTAGS / "dev.jsonl"), 1) if set(d["labels"]) - train_labels)
    with pytest.raises(ConfigurationError, match=rf"dev\.jsonl, line {line}: .*label_file"):
        read(DEBTAGS / "dev.jsonl", reader)


def test_aapd_like_text_only():
    lines = json_lines(FIXTURES / "aapd_like.jsonl")
    reader = TextMultilabelReader(text_fields=["text"])
    instances = read(FIXTURES / "aapd_like.jsonl", reader)
    assert texts(instances) == [d["text"] for d in lines]
    assert reader.label_set == sorted({label for d in lines for label in d["labels"]})
    assert "cs.LG" in reader.label_set
    assert all("id" not in instance["metadata"].metadata for instance in instances)
    assert [t.text for t in instances[0]["tokens"].tokens[:4]] == ["we", "propose", "a", "graph"]
    assert_multi_hot(instances, reader.label_set)


def test_aapd_like_with_optional_title():
    instances = read(FIXTURES / "aapd_like.jsonl", optional_fields=["title"])
    assert texts(instances) == [d["text"] for d in json_lines(FIXTURES / "aapd_like.jsonl")]


def test_rcv1_like_headline_text_topics():
    lines = json_lines(FIXTURES / "rcv1_like.jsonl")
    reader = TextMultilabelReader(text_fields=["headline", "text"], label_field="topics")
    instances = read(FIXTURES / "rcv1_like.jsonl", reader)
    assert texts(instances) == [f"{d['headline']} . {d['text']}" for d in lines]
    assert gold(instances) == [d["topics"] for d in lines]
    assert [instance["metadata"]["id"] for instance in instances] == ["2286", "2287", "2288", "2289"]
    assert "CCAT" in reader.label_set and "GCAT" in reader.label_set
    assert_multi_hot(instances, reader.label_set)


def test_nyt_like_headline_body_and_no_id():
    lines = json_lines(FIXTURES / "nyt_like.jsonl")
    reader = TextMultilabelReader(text_fields=["headline", "body"], separator="\n", id_field=None)
    instances = read(FIXTURES / "nyt_like.jsonl", reader)
    assert texts(instances) == [f"{d['headline']}\n{d['body']}" for d in lines]
    assert reader.label_set == sorted({label for d in lines for label in d["labels"]})
    assert_multi_hot(instances, reader.label_set)


def test_default_tokenizer_splits_punctuation_drops_newlines_and_lowercases_ids():
    reader = TextMultilabelReader()
    instance = reader.text_to_instance(title="Real-time game", text="It's (RTS).\nFun!")
    reader.apply_token_indexers(instance)
    assert [t.text for t in instance["tokens"].tokens] == [
        "Real", "-", "time", "game", ".", "It", "'s", "(", "RTS", ")", ".", "Fun", "!"
    ]
    vocab = Vocabulary.from_instances([instance])
    assert vocab.get_token_index("rts", "tokens") > 1  # lowercased by the default indexer


# ------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "name, line, problem",
    [
        ("not_json.jsonl", 3, "not valid JSON"),
        ("not_object.jsonl", 2, "expected a JSON object, found list"),
        ("missing_field.jsonl", 2, "missing text field 'title'"),
        ("labels_not_list.jsonl", 3, "label field 'labels' must be a JSON list of strings, found 'role::program'"),
        ("text_not_string.jsonl", 1, "text field 'text' must be a string, got 42"),
    ],
)
def test_bad_file_names_file_line_and_problem(name, line, problem):
    with pytest.raises(ConfigurationError) as error:
        read(BAD / name, label_file=str(DEBTAGS / "labels.txt"))
    assert f"{BAD / name}, line {line}: " in str(error.value)
    assert problem in str(error.value)


@pytest.mark.parametrize("label_file", [True, False])
def test_bad_file_errors_without_label_file_too(label_file):
    kwargs = {"label_file": str(DEBTAGS / "labels.txt")} if label_file else {}
    with pytest.raises(ConfigurationError, match=r"missing_field\.jsonl, line 2: "):
        read(BAD / "missing_field.jsonl", **kwargs)


def test_unknown_label_names_file_line_and_label_file():
    with pytest.raises(ConfigurationError) as error:
        read(BAD / "unknown_label.jsonl", label_file=str(DEBTAGS / "labels.txt"))
    message = str(error.value)
    assert f"{BAD / 'unknown_label.jsonl'}, line 3: " in message
    assert "labels ['made-of::cheese'] are not in the label set" in message
    assert str(DEBTAGS / "labels.txt") in message


def test_missing_label_field_and_empty_text(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"title": "t", "text": "x", "labels": []}\n{"title": "t", "text": "y"}\n')
    with pytest.raises(ConfigurationError, match=r"line 2: label field 'labels' .* found nothing"):
        read(path, label_file=str(DEBTAGS / "labels.txt"))
    path.write_text('{"title": "t", "text": "x", "labels": ["a"]}\n{"title": " ", "text": "", "labels": ["a"]}\n')
    with pytest.raises(ConfigurationError, match=r"line 2: the text .* is empty"):
        read(path)


def test_null_optional_field_and_blank_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('\n{"title": null, "text": "x", "labels": ["a"]}\n\n  \n{"text": "y", "labels": []}\n')
    instances = read(path, optional_fields=["title"])
    assert texts(instances) == ["x", "y"]
    assert gold(instances) == [["a"], []]
    with pytest.raises(ConfigurationError, match=r"line 2: missing text field 'title'"):
        read(path)


def test_bad_label_files(tmp_path):
    (tmp_path / "dup.txt").write_text("a\nb\n\na\n")
    with pytest.raises(ConfigurationError, match=r"dup\.txt, line 4: label 'a' repeats line 1"):
        read(DEBTAGS / "train.jsonl", label_file=str(tmp_path / "dup.txt"))
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ConfigurationError, match="has no labels"):
        read(DEBTAGS / "train.jsonl", label_file=str(tmp_path / "empty.txt"))


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"text_fields": []}, "at least one"),
        ({"optional_fields": ["body"]}, "not in 'text_fields'"),
        ({"label_field": "text"}, "also a text field"),
        ({"max_tokens": 0}, "must exceed"),
    ],
)
def test_bad_constructor_arguments(kwargs, problem):
    with pytest.raises(ConfigurationError, match=problem):
        TextMultilabelReader(**kwargs)


# ---------------------------------------------------------------------------------- truncation


def test_max_tokens_with_whitespace_tokenizer():
    lines = json_lines(FIXTURES / "aapd_like.jsonl")
    instances = read(FIXTURES / "aapd_like.jsonl", text_fields=["text"], tokenizer=WhitespaceTokenizer(), max_tokens=5)
    assert [[t.text for t in i["tokens"].tokens] for i in instances] == [d["text"].split()[:5] for d in lines]
    assert texts(instances) == [d["text"] for d in lines]  # metadata keeps the whole text


@pytest.fixture(scope="module")
def bert_tokenizer(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny_bert")
    write_tiny_bert(str(directory), [str(FIXTURES / "aapd_like.jsonl")])
    return PretrainedTransformerTokenizer(str(directory))


def test_max_tokens_with_bert_tokenizer_keeps_sep(bert_tokenizer):
    full = read(FIXTURES / "aapd_like.jsonl", text_fields=["text"], tokenizer=bert_tokenizer)
    cut = read(FIXTURES / "aapd_like.jsonl", text_fields=["text"], tokenizer=bert_tokenizer, max_tokens=8)
    for whole, part in zip(full, cut):
        whole_tokens, tokens = [t.text for t in whole["tokens"].tokens], [t.text for t in part["tokens"].tokens]
        assert len(whole_tokens) > 8
        assert len(tokens) == 8
        assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "[SEP]" not in tokens[:-1]
        assert tokens[:7] == whole_tokens[:7]


def test_bert_tokenizer_short_text_untouched_and_too_small_max_tokens(bert_tokenizer):
    reader = TextMultilabelReader(text_fields=["text"], tokenizer=bert_tokenizer, max_tokens=8)
    assert [t.text for t in reader.text_to_instance("graph network")["tokens"].tokens] == [
        "[CLS]", "graph", "network", "[SEP]"
    ]
    with pytest.raises(ConfigurationError, match="must exceed the tokenizer's 2 special tokens"):
        TextMultilabelReader(tokenizer=bert_tokenizer, max_tokens=2)


# ---------------------------------------------------------------------------- text_to_instance


def test_text_to_instance_for_prediction_without_labels():
    reader = TextMultilabelReader()  # fresh: never read a file, no label set
    instance = reader.text_to_instance(text="A tiny text editor.")
    assert set(instance.fields) == {"tokens", "metadata"}
    assert instance["metadata"].metadata == {"text": "A tiny text editor."}
    instance = reader.text_to_instance(title="Editor", text="A tiny text editor.", id="ed")
    assert instance["metadata"].metadata == {"id": "ed", "text": "Editor . A tiny text editor."}
    assert reader.text_to_instance(**{"title": "Editor"})["metadata"]["text"] == "Editor"


def test_text_to_instance_other_layouts_and_labels():
    reader = TextMultilabelReader(text_fields=["headline", "body"], label_file=str(DEBTAGS / "labels.txt"))
    assert reader.text_to_instance(text="only text")["metadata"]["text"] == "only text"
    instance = reader.text_to_instance(headline="H", body="B", labels=["role::program"], extra=1)
    assert instance["metadata"]["text"] == "H . B"
    assert isinstance(instance["labels"], LabelSetField)
    assert instance["labels"].label_set == (DEBTAGS / "labels.txt").read_text().split()
    with pytest.raises(ConfigurationError, match="made-of::cheese"):
        reader.text_to_instance(text="x", labels=["made-of::cheese"])


def test_text_to_instance_takes_a_data_line_as_is():
    reader = TextMultilabelReader(text_fields=["headline", "text"], label_field="topics")
    read(FIXTURES / "rcv1_like.jsonl", reader)
    line = json_lines(FIXTURES / "rcv1_like.jsonl")[1]
    instance = reader.text_to_instance(**line)
    assert instance["metadata"]["id"] == "2287"
    assert list(instance["labels"].labels) == line["topics"]


def test_text_to_instance_errors():
    reader = TextMultilabelReader()
    with pytest.raises(ConfigurationError, match="label set is unknown"):
        reader.text_to_instance(text="x", labels=["a"])
    with pytest.raises(ConfigurationError, match="No text given"):
        reader.text_to_instance(title=" ")
    with pytest.raises(ConfigurationError, match="must be a string"):
        reader.text_to_instance(text=3)
    with pytest.raises(ConfigurationError, match="list of strings"):
        reader.text_to_instance(text="x", labels="a")


# ------------------------------------------------------------------------ AllenNLP integration


def test_registered_from_params_and_batched():
    assert DatasetReader.by_name("text-multilabel") is TextMultilabelReader
    reader = DatasetReader.from_params(Params({
        "type": "text-multilabel",
        "text_fields": ["headline", "text"],
        "label_field": "topics",
        "tokenizer": {"type": "whitespace"},
        "token_indexers": {"tokens": {"type": "single_id"}},
        "max_tokens": 6,
        "max_instances": 3,
    }))
    assert isinstance(reader, TextMultilabelReader)
    instances = read(FIXTURES / "rcv1_like.jsonl", reader)
    assert len(instances) == 3
    vocab = Vocabulary.from_instances(instances)
    batch = Batch(instances)
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    assert tensors["tokens"]["tokens"]["tokens"].shape == (3, 6)
    assert tensors["labels"].shape == (3, len(reader.label_set))


def test_gzip_gives_the_same_instances(tmp_path):
    gz = tmp_path / "train.jsonl.gz"
    with open(DEBTAGS / "train.jsonl", "rb") as source, gzip.open(gz, "wb") as target:
        shutil.copyfileobj(source, target)
    plain, zipped = read(DEBTAGS / "train.jsonl"), read(gz)
    assert texts(zipped) == texts(plain) and gold(zipped) == gold(plain)
    assert zipped[0]["labels"].label_set == plain[0]["labels"].label_set


def test_gzipped_label_file(tmp_path):
    labels = tmp_path / "labels.txt.gz"
    with open(DEBTAGS / "labels.txt", "rb") as source, gzip.open(labels, "wb") as target:
        shutil.copyfileobj(source, target)
    zipped = TextMultilabelReader(label_file=str(labels))
    plain = TextMultilabelReader(label_file=str(DEBTAGS / "labels.txt"))
    read(DEBTAGS / "dev.jsonl", zipped), read(DEBTAGS / "dev.jsonl", plain)
    assert list(zipped.label_set) == list(plain.label_set) == (DEBTAGS / "labels.txt").read_text().split()


def test_fixture_labels_file_covers_exactly_the_fixture_labels():
    used = {label for split in ("train", "dev", "test") for d in json_lines(DEBTAGS / f"{split}.jsonl")
            for label in d["labels"]}
    assert set((DEBTAGS / "labels.txt").read_text().split()) == used


def test_real_debtags_dev_with_the_shipped_label_file():
    reader = TextMultilabelReader(label_file=str(REAL_DEBTAGS / "labels.txt"))
    instances = read(REAL_DEBTAGS / "dev.jsonl.gz", reader)
    assert len(instances) == 2931
    assert len(reader.label_set) == 379
    assert sum(len(labels) for labels in gold(instances)) / len(instances) > 2
