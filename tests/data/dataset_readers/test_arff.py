"""ArffDatasetReader on hand-written fixtures in the MEKA and MULAN layouts, and on the real scene data."""
import shutil
import types
from pathlib import Path

import numpy as np
import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.data.dataset_readers.dataset_reader import WorkerInfo

from seal.data import ArffDatasetReader, LabelSetField

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "fixtures" / "arff"
DATA = REPO / "data"

# The rows of every tiny fixture (tiny-train.arff and its MEKA, gz and fold copies).
LABEL_NAMES = ("Sky", "Open Water", "Tree")
TINY_X = [
    [0.5, 0, 1, 0.25],
    [0, 0, 0, 0],
    [0.125, -2.5, 0, 0],  # the last value is '?', missing features are 0
    [1, 0.75, 3, 0],
    [0, 0, 0, 2],
]
TINY_LABELS = [["Sky", "Tree"], [], ["Open Water"], ["Sky", "Open Water"], []]
TINY_MULTI_HOT = [[1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]]


def read(path, **kwargs):
    """(reader, list of instances) of `path` (relative to fixtures/arff) with a fresh reader."""
    reader = ArffDatasetReader(**kwargs)
    return reader, list(reader.read(str(FIXTURES / path)))


def features(instances):
    return np.stack([instance["x"].tensor.numpy() for instance in instances])


def positive_labels(instances):
    return [list(instance["labels"].labels) for instance in instances]


# ------------------------------------------------------------------------------- known values


@pytest.mark.parametrize(
    "path",
    [
        "tiny-train.arff",  # MULAN dense, labels last, names from tiny.xml
        "tiny_meka_sparse.arff",  # MEKA sparse, -C 3 (labels first), upper-case keywords
        "tiny_meka_last.arff",  # MEKA dense, -C -3 (labels last), tabs, spaces, quoted values
        "tiny-train.arff.gz",  # gzip copy of tiny-train.arff, label file found as tiny.xml
        "folds/tiny-fold*.arff",  # glob: fold1 (rows 1-2) then fold2 (rows 3-5)
        "folds/tiny-fold[1-2].arff",
    ],
)
def test_every_layout_reads_the_same_data(path):
    reader, instances = read(path)
    np.testing.assert_array_equal(features(instances), np.array(TINY_X, dtype=np.float32))
    assert positive_labels(instances) == TINY_LABELS
    assert all(tuple(instance["labels"].label_set) == LABEL_NAMES for instance in instances)
    assert reader.label_names == LABEL_NAMES
    assert reader.num_features == 4


def test_fields_have_documented_types():
    _, instances = read("tiny_meka_sparse.arff")
    instance = instances[0]
    assert set(instance.fields) == {"x", "labels"}
    assert instance["x"].tensor.shape == (4,)
    assert str(instance["x"].tensor.dtype) == "torch.float32"
    assert isinstance(instance["labels"], LabelSetField)


def test_vocabulary_and_tensors_follow_file_order():
    _, instances = read("tiny-train.arff")
    vocab = Vocabulary.from_instances(instances)
    assert vocab.get_index_to_token_vocabulary("labels") == dict(enumerate(LABEL_NAMES))
    batch = Batch(instances)
    batch.index_instances(vocab)
    assert batch.as_tensor_dict()["labels"].tolist() == TINY_MULTI_HOT


def test_vocabulary_holds_labels_never_positive():
    """In fold2 "Tree" is never positive, yet it is in the vocabulary, in file order."""
    _, instances = read("folds/tiny-fold2.arff")
    assert all("Tree" not in labels for labels in positive_labels(instances))
    vocab = Vocabulary.from_instances(instances)
    assert vocab.get_index_to_token_vocabulary("labels") == dict(enumerate(LABEL_NAMES))


# ---------------------------------------------------------------------- where the labels are


def test_num_labels_overrides_meka_option():
    reader, instances = read("tiny_meka_sparse.arff", num_labels=2)
    assert reader.label_names == ("Sky", "Open Water")
    assert reader.num_features == 5  # Tree is now a feature, the first one
    np.testing.assert_array_equal(features(instances)[:, 0], [1, 0, 0, 0, 0])
    assert positive_labels(instances) == [["Sky"], [], ["Open Water"], ["Sky", "Open Water"], []]


def test_negative_num_labels_replaces_label_file():
    reader, instances = read("tiny-train.arff", num_labels=-1)
    assert reader.label_names == ("Tree",)
    assert reader.num_features == 6


def test_explicit_label_xml_overrides_meka_option(tmp_path):
    xml = tmp_path / "only_tree.xml"
    xml.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<labels xmlns="http://mulan.sourceforge.net/labels">\n<label name="Tree"></label>\n</labels>\n'
    )
    reader, instances = read("tiny_meka_sparse.arff", label_xml=str(xml))
    assert reader.label_names == ("Tree",)
    assert reader.num_features == 6  # Sky, Open Water, f1, f2, f3, f 4
    np.testing.assert_array_equal(features(instances)[0], [1, 0, 0.5, 0, 1, 0.25])


def test_explicit_label_xml_on_mulan_file():
    reader, instances = read("tiny-train.arff", label_xml=str(FIXTURES / "tiny.xml"))
    assert reader.label_names == LABEL_NAMES
    assert positive_labels(instances) == TINY_LABELS


def test_label_file_without_dash_in_name(tmp_path):
    """`mydata.arff` finds `mydata.xml` (stem = whole name when there is no '-')."""
    shutil.copy(FIXTURES / "tiny-train.arff", tmp_path / "mydata.arff")
    shutil.copy(FIXTURES / "tiny.xml", tmp_path / "mydata.xml")
    reader = ArffDatasetReader()
    assert positive_labels(reader.read(str(tmp_path / "mydata.arff"))) == TINY_LABELS


def test_label_xml_and_num_labels_are_exclusive():
    with pytest.raises(ConfigurationError, match="at most one"):
        ArffDatasetReader(label_xml="x.xml", num_labels=3)
    with pytest.raises(ConfigurationError, match="num_labels"):
        ArffDatasetReader(num_labels=0)


# ------------------------------------------------------------------------------- bad files

def two_labels(relation: str, last_feature: str = "x2") -> str:
    """The header of a MEKA file with labels A, B and features x1 and `last_feature`: data from line 9."""
    return (f"@relation '{relation}'\n\n@attribute A {{0,1}}\n@attribute B {{0,1}}\n@attribute x1 numeric\n"
            f"@attribute {last_feature} numeric\n\n@data\n")


MULAN_XML = '<?xml version="1.0" encoding="utf-8"?>\n<labels xmlns="http://mulan.sourceforge.net/labels">\n'
# Each bad file as text (written to a temporary folder by `bad`), so that a file's problem and its line
# number read together.
BAD_FILES = {
    "dense_wrong_count.arff": two_labels("dense: -C 2") + "1,0,0.5,0.25\n0,1,0.5\n",
    "sparse_index_out_of_range.arff": two_labels("sparse: -C 2") + "{0 1,3 0.5}\n{1 1,4 2}\n",
    "sparse_index_not_integer.arff": two_labels("sparse: -C 2") + "{0 1,3 0.5}\n{0 1,two 0.5}\n",
    "non_numeric_value.arff": (two_labels("dense: -C 2") + "1,0,0.5,0.25\n"
                               "% the next row has a word where a number belongs\n0,1,abc,0.5\n"),
    "non_numeric_value_sparse.arff": two_labels("sparse: -C 2") + "{0 1,2 x}\n",
    "label_not_binary.arff": two_labels("dense: -C 2") + "1,0,0.5,0.25\n2,0,0.5,0.5\n",
    "label_not_binary_sparse.arff": two_labels("sparse: -C 2") + "{0 1,2 0.5}\n\n{1 0.5,2 1}\n",
    "label_missing_value.arff": two_labels("dense: -C 2") + "?,1,0.5,0.5\n",
    "no_data.arff": two_labels("nodata: -C 2").replace("\n@data\n", "% the @data section is missing\n"),
    "no_labels.arff": ("% a MEKA header that declares no labels\n@relation 'nolabels: -C 0'\n\n"
                       "@attribute A {0,1}\n@attribute x1 numeric\n\n@data\n0,0.5\n"),
    "empty_xml.arff": "@relation empty_xml\n\n@attribute x1 numeric\n@attribute A {0,1}\n\n@data\n0.5,1\n",
    "empty_xml.xml": MULAN_XML + "</labels>\n",
    "too_many_labels.arff": ("@relation 'toomany: -C 3'\n\n@attribute A {0,1}\n@attribute B {0,1}\n"
                             "@attribute x1 numeric\n\n@data\n0,0,0.5\n"),
    "unsupported_type.arff": ("@relation 'unsupported: -C 1'\n\n@attribute A {0,1}\n@attribute name string\n\n"
                              "@data\n0,'abc'\n"),
    "no_label_info.arff": ("% MULAN layout: no -C, and no_label_info.xml does not exist\n@relation no_label_info\n\n"
                           "@attribute x1 numeric\n@attribute A {0,1}\n\n@data\n0.5,1\n"),
    "missing_xml_label.arff": ("@relation missing_xml_label\n\n@attribute x1 numeric\n@attribute x2 numeric\n"
                               "@attribute A {0,1}\n@attribute B {0,1}\n\n@data\n0.5,0.25,1,0\n"),
    "missing_xml_label.xml": (MULAN_XML + '<label name="A"></label>\n<label name="B"></label>\n'
                              '<label name="C"></label>\n</labels>\n'),
    "mixed_headers/part1.arff": two_labels("part: -C 2") + "1,0,0.5,0.25\n",
    "mixed_headers/part2.arff": two_labels("part: -C 2", "x3") + "0,1,0.5,0.25\n",
}


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    """A folder holding `BAD_FILES`."""
    folder = tmp_path_factory.mktemp("bad_arff")
    for name, text in BAD_FILES.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize(
    "name, line, problem",
    [
        ("dense_wrong_count.arff", 10, "expected 4 comma-separated values, found 3"),
        ("sparse_index_out_of_range.arff", 10, "sparse index 4 is out of range"),
        ("sparse_index_not_integer.arff", 10, "sparse index 'two' is not an integer"),
        ("non_numeric_value.arff", 11, "non-numeric value 'abc'"),
        ("non_numeric_value_sparse.arff", 9, "non-numeric value 'x'"),
        ("label_not_binary.arff", 10, "label 'A' has value '2'"),
        ("label_not_binary_sparse.arff", 11, "label 'B' has value '0.5'"),
        ("label_missing_value.arff", 9, "missing value '?' for label 'A'"),
        ("no_data.arff", 7, "without an @data line"),
        ("no_labels.arff", 2, "no labels found"),
        ("empty_xml.arff", 6, "no labels found"),
        ("too_many_labels.arff", 1, "leave no feature"),
        ("unsupported_type.arff", 4, "unsupported type 'string'"),
        ("no_label_info.arff", 2, "no MULAN label file"),
        ("missing_xml_label.arff", 8, "labels ['C'] named in"),
        ("mixed_headers/part*.arff", 6, "header differs"),
    ],
)
def test_bad_file_names_file_line_and_problem(bad, name, line, problem):
    with pytest.raises(ConfigurationError) as error:
        list(ArffDatasetReader().read(str(bad / name)))
    message = str(error.value.message)
    shown_file = name.replace("part*", "part2")  # the glob's second file has the other header
    assert f"{bad / shown_file}, line {line}: " in message
    assert problem in message


def test_glob_matching_nothing():
    with pytest.raises(ConfigurationError, match="No file matches"):
        list(ArffDatasetReader().read(str(FIXTURES / "folds" / "nothing-*.arff")))


def test_reading_is_lazy(bad):
    """The bad row is on line 10, so the first instance comes out before any error."""
    instances = ArffDatasetReader().read(str(bad / "dense_wrong_count.arff"))
    assert isinstance(instances, types.GeneratorType)
    assert positive_labels([next(instances)]) == [["A"]]
    with pytest.raises(ConfigurationError):
        next(instances)


# --------------------------------------------------------------------------- text_to_instance


def test_text_to_instance_on_fresh_configured_reader():
    reader = ArffDatasetReader(num_features=4, label_names=list(LABEL_NAMES))
    dense = reader.text_to_instance([0.5, 0, 1, 0.25], ["Sky", "Tree"])
    sparse = reader.text_to_instance({0: 0.5, "2": 1, 3: 0.25}, ["Sky", "Tree"])
    for instance in (dense, sparse):
        np.testing.assert_array_equal(instance["x"].tensor.numpy(), TINY_X[0])
        assert list(instance["labels"].labels) == ["Sky", "Tree"]
        assert tuple(instance["labels"].label_set) == LABEL_NAMES


def test_text_to_instance_without_labels_has_no_label_field():
    reader = ArffDatasetReader(num_features=4)
    instance = reader.text_to_instance(np.array([1, 2, 3, 4]))
    assert set(instance.fields) == {"x"}
    assert str(instance["x"].tensor.dtype) == "torch.float32"


def test_text_to_instance_after_reading_matches_read_instance():
    reader, instances = read("tiny-train.arff")
    built = reader.text_to_instance({"1": -2.5, 0: 0.125}, ["Open Water"])
    np.testing.assert_array_equal(built["x"].tensor.numpy(), instances[2]["x"].tensor.numpy())
    assert list(built["labels"].labels) == list(instances[2]["labels"].labels)


def test_text_to_instance_needs_configuration():
    with pytest.raises(ConfigurationError, match="num_features"):
        ArffDatasetReader().text_to_instance([0.5, 0, 1, 0.25])
    with pytest.raises(ConfigurationError, match="label_names"):
        ArffDatasetReader(num_features=4).text_to_instance([0.5, 0, 1, 0.25], ["Sky"])


@pytest.mark.parametrize(
    "features, labels, problem",
    [
        ([1, 2, 3], None, "Expected 4 dense feature values"),
        ({4: 1.0}, None, "out of range"),
        ({"two": 1.0}, None, "not an integer"),
        ([1, 2, 3, 4], ["Grass"], "not in the label set"),
    ],
)
def test_text_to_instance_rejects_bad_input(features, labels, problem):
    reader = ArffDatasetReader(num_features=4, label_names=list(LABEL_NAMES))
    with pytest.raises(ConfigurationError, match=problem):
        reader.text_to_instance(features, labels)


# ---------------------------------------------------------------------- AllenNLP integration


def test_registered_and_from_params_passes_kwargs():
    reader = DatasetReader.from_params(
        Params({"type": "arff", "max_instances": 2, "label_xml": str(FIXTURES / "tiny.xml")})
    )
    assert isinstance(reader, ArffDatasetReader)
    assert positive_labels(reader.read(str(FIXTURES / "tiny-train.arff"))) == TINY_LABELS[:2]


def test_reader_shards_rows_between_workers():
    """Manual sharding: worker i of 2 gets rows i, i + 2, ... of the whole glob."""
    shards = []
    for worker in range(2):
        reader = ArffDatasetReader()
        reader._set_worker_info(WorkerInfo(num_workers=2, id=worker))
        shards.append(positive_labels(reader.read(str(FIXTURES / "folds" / "tiny-fold*.arff"))))
    assert shards == [TINY_LABELS[0::2], TINY_LABELS[1::2]]


# -------------------------------------------------------------------------------- real data


def test_scene_small_fixture():
    reader = ArffDatasetReader()
    for split, rows in [("train", 40), ("dev", 20), ("test", 20)]:
        instances = list(reader.read(str(FIXTURES / "scene_small" / f"scene-{split}.arff")))
        assert len(instances) == rows
        assert reader.num_features == 294 and len(reader.label_names) == 6


def test_real_scene_dev():
    reader = ArffDatasetReader()
    instances = list(reader.read(str(DATA / "scene" / "scene-dev.arff.gz")))
    assert len(instances) == 200
    assert reader.num_features == 294
    assert reader.label_names == ("Beach", "Sunset", "FallFoliage", "Field", "Mountain", "Urban")
    assert all(instance["x"].tensor.shape == (294,) for instance in instances)
    assert all(instance["labels"].labels for instance in instances)  # every image has a label


def test_real_debtags_bow_dev_sparse_meka():
    reader = ArffDatasetReader()
    instances = list(reader.read(str(DATA / "debtags-bow" / "debtags-bow-dev.arff.gz")))
    assert len(instances) == 2931
    assert reader.num_features == 2000 and len(reader.label_names) == 379
    assert reader.label_names[0] == "accessibility::input"
    assert set(np.unique(features(instances[:100]))) <= {0.0, 1.0}


def test_configured_sizes_must_match_the_file():
    with pytest.raises(ConfigurationError, match=r"tiny-train\.arff.*num_features=7"):
        list(ArffDatasetReader(num_features=7).read(str(FIXTURES / "tiny-train.arff")))
    with pytest.raises(ConfigurationError, match=r"tiny-train\.arff.*differ from the configured label_names"):
        list(ArffDatasetReader(label_names=["a", "b", "c"]).read(str(FIXTURES / "tiny-train.arff")))
