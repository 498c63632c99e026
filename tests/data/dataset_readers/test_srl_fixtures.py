"""Sanity checks for the hand-written CoNLL-2012 SRL fixtures in ``fixtures/srl``.

The fixtures imitate OntoNotes ``*.gold_conll`` files (which are licensed and cannot be
shipped), so these tests make sure they are well formed for both the raw OntoNotes reader
and AllenNLP-models' ``SrlReader``, and that the official ``srl-eval.pl`` scorer accepts them.
"""
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import allennlp_models
import pytest
from allennlp_models.common.ontonotes import Ontonotes
from allennlp_models.structured_prediction.dataset_readers.srl import SrlReader
from allennlp_models.structured_prediction.models.srl import (
    convert_bio_tags_to_conll_format,
    write_conll_formatted_tags_to_file,
)

ROOT = Path(__file__).resolve().parents[3]
SRL_DIR = ROOT / "fixtures" / "srl"
SPLITS = ("train", "dev", "test")
SRL_EVAL = (
    Path(os.path.dirname(allennlp_models.__file__))
    / "structured_prediction"
    / "tools"
    / "srl-eval.pl"
)

# Expected sizes (sentences, predicates, predicate-less sentences) per split.
EXPECTED = {
    "train": dict(sentences=34, predicates=51, no_predicate=3),
    "dev": dict(sentences=7, predicates=9, no_predicate=1),
    "test": dict(sentences=7, predicates=12, no_predicate=1),
}


def _split_dir(split: str) -> str:
    return str(SRL_DIR / split)


def _sentences(split: str):
    return list(Ontonotes().dataset_iterator(_split_dir(split)))


def _instances(split: str):
    return list(SrlReader().read(_split_dir(split)))


def _raw_sentences(split: str):
    """Token rows of every sentence, split on whitespace, straight from the files."""
    sentences = []
    for path in sorted(Ontonotes.dataset_path_iterator(_split_dir(split))):
        rows = []
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                rows.append(line.split())
            elif rows:
                sentences.append(rows)
                rows = []
        if rows:
            sentences.append(rows)
    return sentences


def _balanced(pieces, pattern):
    depth = 0
    for piece in pieces:
        depth += len(re.findall(pattern, piece))
        depth -= piece.count(")")
        if depth < 0:
            return False
    return depth == 0


@pytest.mark.parametrize("split", SPLITS)
def test_files_exist_and_are_wrapped_in_documents(split):
    paths = list(Ontonotes.dataset_path_iterator(_split_dir(split)))
    assert paths, f"no gold_conll files under {split}"
    for path in paths:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        begins = [line for line in lines if line.startswith("#begin document")]
        ends = [line for line in lines if line.startswith("#end document")]
        assert 1 <= len(begins) == len(ends) <= 2
        for line in begins:
            assert re.fullmatch(r"#begin document \([a-z]+/[a-z]+/\d\d/[a-z]+_\d{4}\); part \d{3}", line)


@pytest.mark.parametrize("split", SPLITS)
def test_raw_columns(split):
    for rows in _raw_sentences(split):
        widths = {len(row) for row in rows}
        assert len(widths) == 1, f"ragged sentence: {rows[0][3:]}"
        width = widths.pop()
        n_predicate_columns = width - 12
        assert n_predicate_columns >= 0
        # word numbers are 0..n-1 and the document / part columns are constant
        assert [int(row[2]) for row in rows] == list(range(len(rows)))
        assert len({row[0] for row in rows}) == 1 and {row[1] for row in rows} == {"0"}
        # a row with a lemma has a frameset and vice versa; one column per such row
        predicate_rows = [row for row in rows if row[6] != "-"]
        assert all(row[7] != "-" for row in predicate_rows)
        assert all(row[7] == "-" for row in rows if row[6] == "-")
        assert len(predicate_rows) == n_predicate_columns
        # word sense and speaker columns are unused
        assert all(row[8] == "-" and row[9] == "-" for row in rows)
        # named entity, predicate argument and parse columns are balanced
        assert _balanced([row[10] for row in rows], r"\(")
        for column in range(11, 11 + n_predicate_columns):
            pieces = [row[column] for row in rows]
            assert _balanced(pieces, r"\(")
            assert sum(piece == "(V*)" for piece in pieces) == 1
            # the V is on a row with a lemma, and predicate columns follow word order
            v_index = next(i for i, piece in enumerate(pieces) if piece == "(V*)")
            assert rows[v_index][6] != "-"
            assert rows[v_index] is predicate_rows[column - 11]
        assert _balanced([row[5] for row in rows], r"\(")


@pytest.mark.parametrize("split", SPLITS)
def test_ontonotes_reader(split):
    sentences = _sentences(split)
    expected = EXPECTED[split]
    assert len(sentences) == expected["sentences"]
    assert sum(len(s.srl_frames) for s in sentences) == expected["predicates"]
    assert sum(not s.srl_frames for s in sentences) == expected["no_predicate"]
    for sentence in sentences:
        n = len(sentence.words)
        assert 5 <= n <= 18
        # the parse bits form one balanced tree covering the sentence
        assert sentence.parse_tree is not None
        assert sentence.parse_tree.label() == "TOP"
        assert sentence.parse_tree.leaves() == sentence.words
        assert [pos for _, pos in sentence.parse_tree.pos()] == sentence.pos_tags
        framed = [
            i
            for i, (lemma, frame) in enumerate(
                zip(sentence.predicate_lemmas, sentence.predicate_framenet_ids)
            )
            if lemma is not None and frame is not None
        ]
        assert len(framed) == len(sentence.srl_frames)
        for index, (verb, tags) in zip(framed, sentence.srl_frames):
            assert len(tags) == n
            assert tags.count("B-V") == 1
            assert tags.index("B-V") == index
            assert sentence.words[index] == verb
            assert sentence.pos_tags[index].startswith("VB")
            for previous, tag in zip(["O"] + tags, tags):
                if tag.startswith("I-"):
                    assert previous[2:] == tag[2:], tags
        assert len(sentence.named_entities) == n


@pytest.mark.parametrize("split", SPLITS)
def test_srl_reader(split):
    instances = _instances(split)
    expected = EXPECTED[split]
    assert len(instances) == expected["predicates"] + expected["no_predicate"]
    with_verb = 0
    for instance in instances:
        tags = instance["tags"].labels
        verb_indicator = instance["verb_indicator"].labels
        words = instance["metadata"]["words"]
        assert len(tags) == len(words) == len(verb_indicator)
        if sum(verb_indicator):
            with_verb += 1
            assert tags.count("B-V") == 1
            assert verb_indicator[tags.index("B-V")] == 1
            assert instance["metadata"]["verb"] == words[tags.index("B-V")]
        else:
            assert set(tags) == {"O"}
    assert with_verb == expected["predicates"]


def _labels(split):
    return Counter(
        tag[2:] for instance in _instances(split) for tag in instance["tags"].labels if tag != "O"
    )


def test_train_label_coverage():
    labels = set(_labels("train"))
    for label in ["ARG0", "ARG1", "ARG2", "ARG3", "ARG4", "ARG5", "V", "C-ARG1", "R-ARG0", "R-ARG1"]:
        assert label in labels, label
    for modifier in ["TMP", "LOC", "MNR", "NEG", "MOD", "ADV", "DIS", "CAU", "PRP", "DIR"]:
        assert f"ARGM-{modifier}" in labels, modifier


@pytest.mark.parametrize("split", ["dev", "test"])
def test_heldout_label_coverage(split):
    labels = set(_labels(split))
    for label in ["ARG0", "ARG1", "ARG2", "ARG3", "C-ARG1", "ARGM-TMP", "ARGM-MOD", "ARGM-NEG"]:
        assert label in labels, label
    assert labels & {"R-ARG0", "R-ARG1"}


@pytest.mark.skipif(shutil.which("perl") is None, reason="perl is required for srl-eval.pl")
@pytest.mark.parametrize("split", SPLITS)
def test_official_scorer_gold_vs_gold(split, tmp_path):
    assert SRL_EVAL.exists()
    gold_path = tmp_path / "gold.txt"
    predicted_path = tmp_path / "predicted.txt"
    n_args = 0
    with open(predicted_path, "w", encoding="utf-8") as predicted_file, open(
        gold_path, "w", encoding="utf-8"
    ) as gold_file:
        for instance in _instances(split):
            tags = instance["tags"].labels
            words = instance["metadata"]["words"]
            verb_index = tags.index("B-V") if "B-V" in tags else None
            conll_tags = convert_bio_tags_to_conll_format(tags)
            n_args += sum(tag.startswith("B-") and tag != "B-V" for tag in tags)
            write_conll_formatted_tags_to_file(
                predicted_file, gold_file, verb_index, words, conll_tags, conll_tags
            )
    completed = subprocess.run(
        ["perl", str(SRL_EVAL), str(gold_path), str(predicted_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        check=True,
    )
    overall = [line.split() for line in completed.stdout.splitlines() if line.strip().startswith("Overall")]
    assert overall, completed.stdout
    _, correct, excess, missed, precision, recall, f1 = overall[0]
    assert int(excess) == int(missed) == 0
    # continuation arguments are merged with their base argument by the scorer
    assert 0 < int(correct) <= n_args
    assert float(precision) == float(recall) == float(f1) == 100.0
