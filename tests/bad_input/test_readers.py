"""Bad input files against every reader, one row of a table each: the exact `ConfigurationError`
(naming the file, and the line where there is one), or the right instances.  The files are in
fixtures/bad_input/ (README.md there says what is wrong with each)."""
import re
from typing import Any, Callable, List, Optional

import pytest
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance, Vocabulary

from seal.data.dataset_readers import (
    ArffDatasetReader,
    Conll2012SrlReader,
    ConllTagsDatasetReader,
    OcrLettersDatasetReader,
    TextMultilabelReader,
)
from tests.bad_input.conftest import BAD
from tests.util import REPO_ROOT

FIXTURES = REPO_ROOT / "fixtures"
EMPTY = "the data set is empty ({}); a data set needs at least one instance"
NOT_UTF8 = r"not UTF-8 text \(byte 0xe9 at column {}\); seal reads UTF-8 files: convert it, e\.g\. with `iconv .*`"
TRUNCATED = (r"the gzip data is truncated or damaged from here on \(Compressed file ended before the end-of-stream "
             r"marker was reached\)")
NOT_FINITE = r"feature values must be finite numbers \(not NaN or infinite, within float32's range\)"


def fails(path: Any, problem: str, line: Optional[int] = None) -> str:
    """The expected message: the path, the line if given, then `problem` (a regular expression)."""
    where = re.escape(str(path)) + (f", line {line}" if line is not None else "")
    return f"{where}: {problem}"


def words(instances: List[Instance]) -> List[List[str]]:
    return [instance["metadata"]["words"] for instance in instances]


def positives(instances: List[Instance]) -> List[List[str]]:
    return [sorted(instance["labels"].labels) for instance in instances]


def same_as(reader: Callable[[], DatasetReader], path: Any, view: Callable) -> Callable[[List[Instance]], bool]:
    """Check: the instances read show the same `view` as those of a good file."""
    return lambda instances: view(instances) == view(list(reader().read(str(path))))


def arff(**kwargs):
    return lambda: ArffDatasetReader(**kwargs)


def conll(**kwargs):
    return lambda: ConllTagsDatasetReader(**kwargs)


def ocr(**kwargs):
    return lambda: OcrLettersDatasetReader(**kwargs)


def text(**kwargs):
    return lambda: TextMultilabelReader(**{"text_fields": ["text"], **kwargs})


def srl(**kwargs):
    return lambda: Conll2012SrlReader(**kwargs)


TINY = FIXTURES / "arff" / "tiny-train.arff"
ARFF, CONLL, OCR, TEXT, SRL = (BAD / name for name in ("arff", "conll", "ocr", "text", "srl"))
LETTERS = FIXTURES / "ocr" / "letter_small.data"
BOM_DOCSTART_WORDS = [["Anna", "met", "Karl"], ["Paris"]]

# (reader, path, expected: a message pattern, or a check of the instances)
CASES = [
    # ---- empty data sets (item 2) and null paths (item 8)
    ("arff-header-only", arff(), ARFF / "empty_rows.arff", fails(ARFF / "empty_rows.arff", re.escape(
        EMPTY.format("no data rows after the @data line")))),
    ("arff-null-path", arff(), None, r"ArffDatasetReader was given no data path \(null\): set the data path in "
                                     r"question \(e.g. 'train_data_path'\) to a file"),
    ("conll-empty", conll(), CONLL / "empty.conll", fails(CONLL / "empty.conll", re.escape(EMPTY.format(
        "no sentences: no token lines")))),
    ("conll-docstart-only", conll(), CONLL / "docstart_only.conll", fails(CONLL / "docstart_only.conll", re.escape(
        EMPTY.format("no sentences: no token lines")))),
    ("conll-directory", conll(), CONLL, fails(CONLL, "a directory, where a data file was expected")),
    ("ocr-empty", ocr(), OCR / "empty.data", fails(OCR / "empty.data", re.escape(EMPTY.format(
        "no words of the selected folds")))),
    ("ocr-folds-without-words", ocr(), f"{LETTERS}@folds=7", fails(f"{LETTERS}@folds=7", re.escape(EMPTY.format(
        "no words of the selected folds")))),
    ("ocr-folds-argument-without-words", ocr(folds=[3, 4]), LETTERS, fails(LETTERS, re.escape(EMPTY.format(
        "no words of the selected folds")))),
    ("text-empty", text(), TEXT / "empty.jsonl", fails(TEXT / "empty.jsonl", re.escape(EMPTY.format(
        "no non-blank lines")))),
    ("text-empty-with-label-file", text(label_file=str(TEXT / "labels_abc.txt")), TEXT / "empty.jsonl",
     fails(TEXT / "empty.jsonl", re.escape(EMPTY.format("no non-blank lines")))),
    ("text-blank-lines", text(), TEXT / "blank_lines.jsonl", fails(TEXT / "blank_lines.jsonl", re.escape(EMPTY.format(
        "no non-blank lines")))),
    ("srl-comments-only", srl(), SRL / "comments_only", fails(SRL / "comments_only", re.escape(EMPTY.format(
        "no sentences in its .gold_conll files")))),
    ("srl-domain-without-files", srl(domain_identifier="bc"), FIXTURES / "srl" / "train",
     fails(FIXTURES / "srl" / "train", re.escape(EMPTY.format("no sentences in its .gold_conll files")))),
    # ---- non-finite numbers (item 3)
    ("arff-nan-dense", arff(), ARFF / "nan_feature.arff", fails(ARFF / "nan_feature.arff", "feature 'f2' is nan: "
                                                             + NOT_FINITE, line=13)),
    ("arff-minus-inf-sparse", arff(), ARFF / "inf_sparse.arff", fails(ARFF / "inf_sparse.arff", "feature 'f2' is -inf: "
                                                                   + NOT_FINITE, line=13)),
    ("arff-float32-overflow", arff(), ARFF / "overflow.arff", fails(ARFF / "overflow.arff", "feature 'f3' is inf: "
                                                                 + NOT_FINITE, line=12)),
    ("ocr-nan-pixel", ocr(), OCR / "nan_pixel.data", fails(OCR / "nan_pixel.data",
                                                         r"pixel 2 \(column 9\) is 'nan', not 0 or 1", line=2)),
    # ---- byte-order marks (item 4)
    ("arff-bom", arff(), ARFF / "bom.arff", same_as(arff(), TINY, positives)),
    ("arff-bom-gzip", arff(), ARFF / "bom.arff.gz", same_as(arff(), TINY, positives)),
    ("conll2003-bom-docstart", conll(tag_scheme="IOB1"), CONLL / "bom_docstart.txt",
     lambda instances: words(instances) == BOM_DOCSTART_WORDS),
    ("conll-bom", conll(), CONLL / "bom.conll",
     lambda instances: words(instances) == [["Anna", "met", "Bob"], ["Paris", "rocks"]]),
    ("ocr-bom", ocr(), OCR / "bom.data",
     lambda instances: [i["metadata"]["letters"] for i in instances] == [["e", "n", "u"]]),
    ("text-bom", text(), TEXT / "bom.jsonl", same_as(text(), TEXT / "abc.jsonl", positives)),
    ("srl-bom", srl(), SRL / "bom.gold_conll", same_as(srl(), FIXTURES / "srl" / "dev", words)),
    # ---- bytes that are not UTF-8, truncated gzip (item 8)
    ("arff-latin1", arff(), ARFF / "latin1.arff", fails(ARFF / "latin1.arff", NOT_UTF8.format(6), line=2)),
    ("conll-latin1", conll(), CONLL / "latin1.conll", fails(CONLL / "latin1.conll", NOT_UTF8.format(4), line=4)),
    ("text-latin1", text(), TEXT / "latin1.jsonl", fails(TEXT / "latin1.jsonl", NOT_UTF8.format(14), line=3)),
    ("srl-latin1", srl(), SRL / "latin1.gold_conll", fails(SRL / "latin1.gold_conll", NOT_UTF8.format(37), line=3)),
    ("arff-truncated-gzip", arff(), ARFF / "truncated.arff.gz", fails(ARFF / "truncated.arff.gz", TRUNCATED, line=12)),
    ("conll-truncated-gzip", conll(), CONLL / "truncated.conll.gz", fails(CONLL / "truncated.conll.gz", TRUNCATED,
                                                                      line=102)),
    ("ocr-truncated-gzip", ocr(), OCR / "truncated.data.gz", fails(OCR / "truncated.data.gz", TRUNCATED, line=17)),
    ("text-truncated-gzip", text(text_fields=["title", "text"]), TEXT / "truncated.jsonl.gz",
     fails(TEXT / "truncated.jsonl.gz", TRUNCATED, line=4)),
    # ---- a JSON list where an object is expected (item 8)
    ("text-json-list-line", text(text_fields=["title", "text"]), FIXTURES / "text_multilabel" / "bad" /
     "not_object.jsonl", fails(FIXTURES / "text_multilabel" / "bad" / "not_object.jsonl",
                               "expected a JSON object, found list", line=2)),
]


@pytest.mark.parametrize("make_reader, path, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_file(make_reader, path, expected):
    reader = make_reader()
    path = None if path is None else str(path)
    if callable(expected):
        assert expected(list(reader.read(path)))
    else:
        with pytest.raises(ConfigurationError) as error:
            list(reader.read(path))
        assert re.fullmatch(expected, str(error.value)), str(error.value)


def test_an_empty_shard_is_no_error_when_the_data_set_is_not_empty():
    """Emptiness is judged on the whole data set: with 2 data-loader workers and 1 word, one
    worker's shard is empty and reads nothing, without error."""
    from allennlp.data.dataset_readers.dataset_reader import WorkerInfo

    reader = OcrLettersDatasetReader()
    counts = []
    for worker in range(2):
        reader._set_worker_info(WorkerInfo(2, worker))
        counts.append(len(list(reader.read(str(OCR / "bom.data")))))
    assert counts == [1, 0]


# ---- labels and tags mapped to a model's vocabulary by name (item 5) ---------------------------
def vocabulary(reader: DatasetReader, path: Any) -> Vocabulary:
    return Vocabulary.from_instances(reader.read(str(path)))


def indexed(reader: DatasetReader, path: Any, vocab: Vocabulary) -> List[List[int]]:
    """The label ids of every instance of `path` indexed with `vocab`."""
    instances = list(reader.read(str(path)))
    for instance in instances:
        instance.index_fields(vocab)
    field = "tags" if "tags" in instances[0].fields else "labels"
    return [instance[field].as_tensor(instance[field].get_padding_lengths()).tolist() for instance in instances]


TINY_LABELS = r"\['Sky', 'Open Water', 'Tree'\]"
WNUT_TRAIN = FIXTURES / "conll" / "wnut16_small" / "train.conll"
# (the model's reader and training file, the evaluated file's reader and file, expected message)
VOCAB_CASES = [
    ("arff-model-label-missing-from-file", arff(), TINY, arff(), ARFF / "tiny_no_tree.arff", fails(
        ARFF / "tiny_no_tree.arff", r"the model's labels \['Tree'\] are not labels of this data, whose labels are "
        r"\['Sky', 'Open Water'\]; data to evaluate must have every label the model knows \(matched by name\), or "
        r"those labels would be scored as always absent")),
    ("arff-label-unknown-to-model", arff(), TINY, arff(), ARFF / "tiny_extra_label.arff", fails(
        ARFF / "tiny_extra_label.arff", r"labels \['Snow'\] are unknown to the model, which knows the 3 labels "
        + TINY_LABELS + r" \(vocabulary namespace 'labels'\)")),
    ("conll-tag-unknown-to-model", conll(), WNUT_TRAIN, conll(), CONLL / "unknown_tag.conll", fails(
        CONLL / "unknown_tag.conll", r"tags \['U-spaceship'\] are unknown to the model, which knows the \d+ tags "
        r"\[.*'U-person'.*\] \(vocabulary namespace 'labels'\)", line=4)),
    ("text-label-file-lacks-model-label", text(label_file=str(TEXT / "labels_abc.txt")), TEXT / "abc.jsonl",
     text(label_file=str(TEXT / "labels_ab.txt")), TEXT / "ab.jsonl", fails(
         TEXT / "ab.jsonl", r"the model's labels \['c'\] are not labels of this data, whose labels are "
         r"\['a', 'b'\]; .*")),
]


@pytest.mark.parametrize("model_reader, train, file_reader, other, expected", [case[1:] for case in VOCAB_CASES],
                         ids=[case[0] for case in VOCAB_CASES])
def test_labels_the_model_and_the_file_do_not_share(model_reader, train, file_reader, other, expected):
    vocab = vocabulary(model_reader(), train)
    with pytest.raises(ConfigurationError) as error:
        indexed(file_reader(), other, vocab)
    assert re.fullmatch(expected, str(error.value)), str(error.value)


def test_arff_labels_in_another_order_are_mapped_by_name():
    vocab, reader = vocabulary(ArffDatasetReader(), TINY), ArffDatasetReader()
    assert indexed(reader, ARFF / "tiny_reordered.arff", vocab) == indexed(reader, TINY, vocab)


def test_a_collected_label_set_may_use_fewer_labels_than_the_model():
    """Without a label file the label set is the labels a file uses: an unused one is truly absent."""
    vocab = vocabulary(text(label_file=str(TEXT / "labels_abc.txt"))(), TEXT / "abc.jsonl")
    assert indexed(text()(), TEXT / "ab.jsonl", vocab) == [[1, 1, 0], [1, 0, 0]]
