import pytest
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader

from seal.data.dataset_readers import Conll2012SrlReader
from tests.util import REPO_ROOT

SRL = REPO_ROOT / "fixtures" / "srl"


def read(path):
    return list(Conll2012SrlReader().read(str(path)))


def test_registered():
    assert DatasetReader.by_name("conll2012-srl") is Conll2012SrlReader


def test_one_instance_per_predicate_and_per_sentence_without_one():
    instances = read(SRL / "train")
    assert len(instances) == 54  # 51 predicates + 3 sentences without predicate
    without = [i for i in instances if i["metadata"]["verb_index"] is None]
    assert len(without) == 3
    for instance in without:
        assert set(instance["tags"].labels) == {"O"} and set(instance["verb_indicator"].labels) == {0}
    for instance in instances:
        tags, indicator = instance["tags"].labels, instance["verb_indicator"].labels
        verb = instance["metadata"]["verb_index"]
        if verb is not None:
            assert tags.count("B-V") == 1 and tags[verb] == "B-V" and indicator[verb] == 1 and sum(indicator) == 1
        assert len(tags) == len(instance["tokens"]) == len(instance["metadata"]["words"])


def test_first_sentence_frames_by_hand():
    # "Acme Corp. said yesterday that its profit rose 8 % to ..." (fixture_train_01, two predicates)
    said, rose = read(SRL / "train" / "fixture_train_01.gold_conll")[:2]
    assert said["metadata"]["verb"] == "said" and rose["metadata"]["verb"] == "rose"
    assert said["tags"].labels[:5] == ["B-ARG0", "I-ARG0", "B-V", "B-ARGM-TMP", "B-ARG1"]
    assert rose["tags"].labels[5:10] == ["B-ARG1", "I-ARG1", "B-V", "B-ARG2", "I-ARG2"]


def test_continuation_and_reference_arguments_are_read():
    tags = {t[2:] for i in read(SRL / "train") for t in i["tags"].labels if t != "O"}
    assert {"C-ARG1", "R-ARG0", "R-ARG1", "ARG5", "ARGM-TMP", "V"} <= tags


def test_a_single_file_reads_like_its_directory():
    directory = read(SRL / "dev")
    files = sorted((SRL / "dev").glob("*.gold_conll"))
    assert [i["tags"].labels for i in directory] == [i["tags"].labels for f in files for i in read(f)]


@pytest.mark.parametrize(
    "name, message",
    [
        ("unbalanced_args.gold_conll", r"unbalanced_args.gold_conll, line 8, column 12: .*still open"),
        (
            "ragged_columns.gold_conll",
            r"ragged_columns.gold_conll, line 5: 12 columns, but the sentence starting at line 2 has 13",
        ),
    ],
)
def test_malformed_files_name_file_and_line(name, message):
    with pytest.raises(ConfigurationError, match=message):
        read(SRL / "bad" / name)


def test_malformed_cells_and_missing_predicate(tmp_path):
    good = (SRL / "bad" / "unbalanced_args.gold_conll").read_text().splitlines()[:3]
    no_verb = [line.replace("(V*)", "*") for line in good]
    (tmp_path / "no_verb.gold_conll").write_text("\n".join(no_verb) + "\n\n")
    with pytest.raises(ConfigurationError, match=r"line 3, column 12: a predicate column without \(V\*\)"):
        read(tmp_path / "no_verb.gold_conll")
    short = ["a b c"]
    (tmp_path / "short.gold_conll").write_text("\n".join(short) + "\n\n")
    with pytest.raises(ConfigurationError, match=r"short.gold_conll, line 1: 3 columns"):
        read(tmp_path / "short.gold_conll")


def test_a_directory_without_gold_conll_files(tmp_path):
    with pytest.raises(ConfigurationError, match="no \\*.gold_conll files"):
        read(tmp_path)
