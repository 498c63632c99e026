import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary

from seal.data.dataset_readers.ocr import OcrLettersDatasetReader, parse_folds, split_folds_suffix

FIXTURES = Path(__file__).parents[3] / "fixtures" / "ocr"
SMALL = FIXTURES / "letter_small.data"
REAL_OCR = Path(__file__).parents[3] / "data" / "ocr" / "letter.data.gz"

# (word_id, fold, letters) of the fixture's words, in file order.
SMALL_WORDS = [
    (758, 5, "enu"), (1370, 1, "axi"), (2167, 2, "ate"), (2761, 5, "ump"), (3172, 0, "eeker"),
    (3567, 1, "uff"), (3706, 2, "kiing"), (4118, 2, "uzz"), (4270, 0, "ero"), (5481, 5, "ake"),
    (6485, 1, "wab"),
]


def read(path, **kwargs):
    return list(OcrLettersDatasetReader(**kwargs).read(str(path)))


def words_of(instances):
    return [(i["metadata"]["word_id"], i["metadata"]["fold"], "".join(i["metadata"]["letters"])) for i in instances]


def test_fixture_words_letters_and_metadata():
    instances = read(SMALL)
    assert words_of(instances) == SMALL_WORDS
    first = instances[0]
    assert set(first.fields) == {"images", "labels", "letter_mask", "metadata"}
    assert list(first["labels"].labels) == ["e", "n", "u"]
    mask = first["letter_mask"].as_tensor(first["letter_mask"].get_padding_lengths())
    assert mask.dtype == torch.bool and mask.all()


def test_images_are_the_pixel_columns_row_major():
    lines = SMALL.read_text().splitlines()
    instance = read(SMALL)[0]
    for position, line in enumerate(lines[:3]):
        pixels = np.array([float(value) for value in line.split("\t")[6:134]], dtype=np.float32)
        image = instance["images"].field_list[position].array
        assert image.shape == (16, 8)
        np.testing.assert_array_equal(image, pixels.reshape(16, 8))
        assert image[0].tolist() == pixels[:8].tolist()  # the first row is the first 8 pixels


@pytest.mark.parametrize(
    "suffix, folds",
    [("@folds=0", [0]), ("@folds=1,2", [1, 2]), ("@folds=2-9", list(range(2, 10))), ("@folds=0,2-5", [0, 2, 3, 4, 5])],
)
def test_folds_suffix_selects_words(suffix, folds):
    instances = read(str(SMALL) + suffix)
    assert words_of(instances) == [word for word in SMALL_WORDS if word[1] in folds]


def test_folds_argument_and_suffix_wins():
    assert words_of(read(SMALL, folds=[1])) == [w for w in SMALL_WORDS if w[1] == 1]
    assert words_of(read(str(SMALL) + "@folds=0", folds=[1])) == [w for w in SMALL_WORDS if w[1] == 0]


def test_parse_folds_and_split_suffix():
    assert parse_folds("3, 1,1-2") == [1, 2, 3]
    assert split_folds_suffix("a/letter.data") == ("a/letter.data", None)
    assert split_folds_suffix("a/letter.data@folds=0") == ("a/letter.data", [0])


@pytest.mark.parametrize(
    "spec, problem",
    [("", "expected comma-separated"), ("a", "expected comma-separated"), ("5-2", "empty range"),
     ("10", r"outside 0-9"), ("0,,1", "expected comma-separated")],
)
def test_bad_fold_selection(spec, problem):
    with pytest.raises(ConfigurationError, match=problem):
        parse_folds(spec)


def test_bad_folds_argument():
    with pytest.raises(ConfigurationError, match="outside 0-9"):
        OcrLettersDatasetReader(folds=[3, 12])
    with pytest.raises(ConfigurationError, match="selects no fold"):
        OcrLettersDatasetReader(folds=[])


def test_gzip_gives_the_same_words_and_images(tmp_path):
    zipped = tmp_path / "letter.data.gz"
    with open(SMALL, "rb") as source, gzip.open(zipped, "wb") as target:
        shutil.copyfileobj(source, target)
    plain, compressed = read(SMALL), read(zipped)
    assert words_of(plain) == words_of(compressed)
    for a, b in zip(plain, compressed):
        for x, y in zip(a["images"].field_list, b["images"].field_list):
            np.testing.assert_array_equal(x.array, y.array)


@pytest.mark.parametrize(
    "name, line, problem",
    [
        ("broken_chain.data", 5, "broken chain in word 1370: line 4 has next_id 10780 but this line has id 10790"),
        ("pixel_two.data", 6, r"pixel 37 \(column 44\) is '2', not 0 or 1"),
        ("wrong_column_count.data", 5, "expected 134 tab-separated columns"),
    ],
)
def test_bad_files_name_file_line_and_problem(name, line, problem):
    path = FIXTURES / "bad" / name
    with pytest.raises(ConfigurationError, match=rf"{name}.*line {line}.*{problem}"):
        read(path)


def _write(tmp_path, lines):
    path = tmp_path / "letter.data"
    path.write_text("".join("\t".join(map(str, columns + [0] * 128)) + "\n" for columns in lines))
    return path


@pytest.mark.parametrize(
    "lines, line, problem",
    [
        ([[1, "a", -1, 7, 2, 0]], 1, "starts at position 2, expected 1"),
        ([[1, "a", 2, 7, 1, 0]], 1, "the file ends inside word 7"),
        ([[1, "a", 2, 7, 1, 0], [2, "b", -1, 7, 2, 3]], 2, "changes fold from 0 to 3"),
        ([[1, "a", 2, 7, 1, 0], [2, "b", -1, 8, 1, 0]], 2, "word 7 is unfinished"),
        ([[1, "a", -1, 7, 1, 0], [2, "b", -1, 7, 1, 0]], 2, "word 7 is not contiguous"),
        ([[1, "A", -1, 7, 1, 0]], 1, "letter 'A' is not a single letter a-z"),
        ([[1, "a", -1, 7, 1, 11]], 1, "fold 11 is outside 0-9"),
        ([["x", "a", -1, 7, 1, 0]], 1, "id 'x' is not an integer"),
    ],
)
def test_bad_word_structure(tmp_path, lines, line, problem):
    with pytest.raises(ConfigurationError, match=rf"line {line}.*{problem}"):
        read(_write(tmp_path, lines))


def test_text_to_instance_accepts_flat_and_square_images():
    reader = OcrLettersDatasetReader()
    flat = np.arange(128, dtype=np.float32)
    a = reader.text_to_instance([flat, flat], ["a", "b"])
    b = reader.text_to_instance([flat.reshape(16, 8), torch.tensor(flat).reshape(16, 8)], ["a", "b"])
    for x, y in zip(a["images"].field_list, b["images"].field_list):
        np.testing.assert_array_equal(x.array, y.array)
    assert reader.text_to_instance([flat])["metadata"]["letters"] is None
    assert "labels" not in reader.text_to_instance([flat]).fields


@pytest.mark.parametrize(
    "images, letters, problem",
    [
        ([], None, "at least one letter image"),
        ([np.zeros(100)], None, r"shape \(100,\)"),
        ([np.zeros(128)], ["a", "b"], "1 images but 2 letters"),
        ([np.zeros(128)], ["ab"], "not single letters"),
        ([["x"] * 128], None, "not numeric"),
    ],
)
def test_text_to_instance_rejects_bad_input(images, letters, problem):
    with pytest.raises(ConfigurationError, match=problem):
        OcrLettersDatasetReader().text_to_instance(images, letters)


def test_registered_and_batched():
    reader = DatasetReader.from_params(Params({"type": "ocr-letters", "folds": [0, 5]}))
    instances = list(reader.read(str(SMALL)))
    assert [w[0] for w in words_of(instances)] == [758, 2761, 3172, 4270, 5481]
    vocab = Vocabulary.from_instances(instances)
    batch = Batch(instances)
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    assert tensors["images"].shape == (5, 5, 16, 8)
    assert tensors["letter_mask"].dtype == torch.bool
    assert tensors["letter_mask"].sum(dim=1).tolist() == [3, 3, 5, 3, 3]
    assert tensors["images"][0, 3:].abs().sum() == 0  # padding letters are blank
    assert tensors["labels"].shape == (5, 5)


def test_real_letter_data_protocol_folds_of_the_gzipped_file():
    """The configs' split of the shipped gzipped file (test fold 0, dev fold 1, train folds 2-9)
    covers Taskar et al.'s 6877 words, 52152 letters."""
    splits = {folds: read(f"{REAL_OCR}@folds={folds}") for folds in ("0", "1", "2-9")}
    assert {folds: len(words) for folds, words in splits.items()} == {"0": 626, "1": 704, "2-9": 5547}
    assert sum(len(word["labels"].labels) for words in splits.values() for word in words) == 52152
