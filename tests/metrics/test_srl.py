import subprocess

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp_models.structured_prediction.metrics.srl_eval_scorer import DEFAULT_SRL_EVAL_PATH

from seal.data.dataset_readers import Conll2012SrlReader
from seal.metrics import SrlEvalF1
from tests.util import REPO_ROOT

TAGS = ["O", "B-V", "B-ARG0", "I-ARG0", "B-ARG1", "I-ARG1", "B-C-ARG1", "I-C-ARG1", "B-R-ARG0", "B-ARGM-TMP"]


def vocab():
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(TAGS, "labels")
    return vocab


def indices(tags):
    return torch.tensor([[TAGS.index(t) for t in tags]])


def one_hot(tags):
    return torch.nn.functional.one_hot(indices(tags), len(TAGS)).float()


def score(predicted, gold, mask=None):
    metric = SrlEvalF1(vocab())
    for p, g in zip(predicted, gold):
        metric(one_hot(p), indices(g), mask)
    return metric.get_metric(reset=True)


def test_spans_are_scored_without_the_predicate():
    gold = ["B-ARG0", "I-ARG0", "B-V", "B-ARG1", "O"]
    predicted = ["B-ARG0", "O", "B-V", "B-ARG1", "O"]  # ARG0 cut short, ARG1 right, V ignored
    metrics = score([predicted], [gold])
    assert metrics["precision-overall"] == pytest.approx(0.5)
    assert metrics["recall-overall"] == pytest.approx(0.5)
    assert metrics["f1-measure-ARG1"] == pytest.approx(1.0)
    assert metrics["f1-measure-ARG0"] == pytest.approx(0.0)
    assert "f1-measure-V" not in metrics


def test_a_continuation_argument_is_one_argument_with_its_head():
    # "The deal , he said , is off": ARG1 = [The deal] + C-ARG1 [is off] of "said".
    gold = ["B-ARG1", "I-ARG1", "O", "B-ARG0", "B-V", "O", "B-C-ARG1", "I-C-ARG1"]
    head_only = ["B-ARG1", "I-ARG1", "O", "B-ARG0", "B-V", "O", "O", "O"]
    metrics = score([head_only], [gold])
    # srl-eval: the discontinuous ARG1 is wrong as a whole; ARG0 right (1 of 2 both ways).
    # A contiguous-span F1 would say precision 1 and recall 2/3 instead.
    assert metrics["precision-overall"] == pytest.approx(0.5)
    assert metrics["recall-overall"] == pytest.approx(0.5)
    assert score([gold], [gold])["f1-measure-overall"] == pytest.approx(1.0)


def test_reference_arguments_count_as_arguments_and_padding_is_ignored():
    # "the man who left": R-ARG0 "who" of "left", ARG0 "the man".
    gold = ["B-ARG0", "I-ARG0", "B-R-ARG0", "B-V", "O"]
    predicted = ["B-ARG0", "I-ARG0", "O", "B-V", "B-ARGM-TMP"]  # position 4 is padding
    mask = torch.tensor([[True, True, True, True, False]])
    metrics = score([predicted], [gold], mask)
    assert metrics["precision-overall"] == pytest.approx(1.0)
    assert metrics["recall-overall"] == pytest.approx(0.5)
    assert metrics["recall-R-ARG0"] == pytest.approx(0.0)


def test_a_sentence_without_predicate_is_not_scored_as_the_official_scorer_does():
    # srl-eval.pl scores the argument columns of predicates; a sentence without one has none.
    metrics = score([["B-ARG0", "O", "O"], ["B-ARG0", "B-V", "O"]], [["O", "O", "O"], ["B-ARG0", "B-V", "O"]])
    assert metrics["recall-overall"] == pytest.approx(1.0)
    assert metrics["precision-overall"] == pytest.approx(1.0)


def test_frames_are_scored_in_groups_and_exactly_at_reset():
    metric = SrlEvalF1(vocab(), flush_size=2)
    frame = ["B-ARG0", "B-V", "O"]
    metric(one_hot(frame), indices(frame))
    assert metric.get_metric()["recall-overall"] == 0.0  # waiting: nothing scored yet
    metric(one_hot(["O", "B-V", "O"]), indices(frame))  # the second frame fills the group
    assert metric.get_metric()["recall-overall"] == pytest.approx(0.5)
    metric(one_hot(frame), indices(frame))
    assert metric.get_metric(reset=True)["recall-overall"] == pytest.approx(2 / 3)  # flushed
    assert metric.get_metric()["recall-overall"] == 0.0  # and reset


def test_tags_must_be_bio():
    bad = Vocabulary()
    bad.add_tokens_to_namespace(["O", "U-ARG0"], "labels")
    with pytest.raises(ConfigurationError, match="BIO"):
        SrlEvalF1(bad)


# ---- equality with the official scorer run on the raw .gold_conll columns of the fixtures -------
SRL_FIXTURES = REPO_ROOT / "fixtures" / "srl"


def perturb_cells(cells):
    """A wrong prediction of one predicate column in CoNLL bracket form: ARGM-TMP dropped, ARG2
    called ARG3."""
    result, dropping = [], False
    for cell in cells:
        if cell.startswith("(ARGM-TMP*"):
            dropping = not cell.endswith(")")
            cell = "*"
        elif dropping and cell.endswith(")"):
            dropping, cell = False, "*"
        result.append(cell.replace("(ARG2*", "(ARG3*"))
    return result


def perturb_tags(tags):
    """The same wrong prediction in BIO tags."""
    return ["O" if t.endswith("-ARGM-TMP") else t.replace("-ARG2", "-ARG3") if t[2:] == "ARG2" else t for t in tags]


def raw_props(split):
    """(gold, perturbed) CoNLL-2005 props lines of every sentence of the split's files."""
    gold, predicted = [], []
    for path in sorted((SRL_FIXTURES / split).rglob("*gold_conll")):
        sentence = []
        for line in path.read_text().splitlines() + [""]:
            if line.startswith("#"):
                continue
            if line.strip():
                sentence.append(line.split())
                continue
            if sentence:
                targets = [row[6] if "(V*)" in " ".join(row[11:-1]) else "-" for row in sentence]
                columns = [[row[c] for row in sentence] for c in range(11, len(sentence[0]) - 1)]
                wrong = [perturb_cells(column) for column in columns]
                for props, cols in ((gold, columns), (predicted, wrong)):
                    props.extend(" ".join([t] + [col[i] for col in cols]) for i, t in enumerate(targets))
                    props.append("")
                sentence = []
    return gold, predicted


def official_overall(tmp_path, gold, predicted):
    (tmp_path / "gold.props").write_text("\n".join(gold) + "\n")
    (tmp_path / "predicted.props").write_text("\n".join(predicted) + "\n")
    output = subprocess.run(
        ["perl", DEFAULT_SRL_EVAL_PATH, str(tmp_path / "gold.props"), str(tmp_path / "predicted.props")],
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(line.split() for line in output.splitlines() if line.strip().startswith("Overall"))
    return [float(value) / 100 for value in line[4:7]]  # precision, recall, F1 in percent


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_equals_the_official_scorer_on_the_raw_fixture_files(split, tmp_path):
    instances = list(Conll2012SrlReader().read(str(SRL_FIXTURES / split)))
    gold_tags = [instance["tags"].labels for instance in instances]
    predicted_tags = [perturb_tags(tags) for tags in gold_tags]
    tag_vocab = Vocabulary()
    tag_vocab.add_tokens_to_namespace(sorted({t for tags in gold_tags + predicted_tags for t in tags}), "labels")
    metric = SrlEvalF1(tag_vocab)
    to_index = tag_vocab.get_token_to_index_vocabulary("labels")
    for gold, predicted in zip(gold_tags, predicted_tags):
        predicted_one_hot = torch.nn.functional.one_hot(torch.tensor([[to_index[t] for t in predicted]]), len(to_index))
        metric(predicted_one_hot.float(), torch.tensor([[to_index[t] for t in gold]]))
    ours = metric.get_metric(reset=True)
    expected = official_overall(tmp_path, *raw_props(split))
    assert expected[2] < 1.0  # the perturbation made errors
    got = [ours["precision-overall"], ours["recall-overall"], ours["f1-measure-overall"]]
    assert got == pytest.approx(expected, abs=1e-4)
