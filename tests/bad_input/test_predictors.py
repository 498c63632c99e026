"""Bad `predict` inputs against the `seal` predictor (tiny archives of the fixture configs) and the
`seal-srl` predictor (a stub tagger), one row of a table each, run in-process through the
`allennlp predict` command's own line loop: the exact error naming the input line, or the right
output lines (with `on_bad_input: "skip"`, an `{"error": ...}` line in place of each bad input)."""
import json
import math
import re
from pathlib import Path
from typing import Any, Dict, List, Union

import pytest
from allennlp.commands.predict import _PredictManager
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

from seal.data.dataset_readers import Conll2012SrlReader
from seal.predictors import SealPredictor, SealSrlPredictor
from tests.predictors.test_srl import SPACY_MODEL, StubTagger

SCENE, WNUT, OCR, DEBTAGS = ("scene_small_cross_entropy", "wnut16_small_cross_entropy", "ocr_small_cross_entropy",
                             "debtags_small_light_cross_entropy")
IMAGE = [0] * 128
FINITE = r"must be a finite number"


class Error(str):
    """An expected `{"error": ...}` output line: its message as a regular expression."""


def prediction(output: Dict[str, Any]) -> bool:
    return "error" not in output and "probabilities" in output


def frames(output: Dict[str, Any]) -> bool:
    return set(output) == {"words", "verbs"}


# (config, predictor arguments, input lines, expected: a message pattern the run stops with, or one
#  entry per input line: a check of its prediction, or the Error it is replaced by)
CASES = [
    # ---- wrongly typed fields (items 6 and 8)
    ("tokens-is-a-string", WNUT, {}, ['{"tokens": "Hello world"}'],
     r"input line 1: field tokens must be a list of strings, got the string 'Hello world'"),
    ("token-is-a-number", WNUT, {}, ['{"tokens": ["Hello", 1]}'],
     r"input line 1: field tokens\[1\] must be a string, got the number 1"),
    ("sentence-is-a-number", WNUT, {}, ['{"sentence": 5}'], r"input line 1: field sentence must be a string, got "
                                                           r"the number 5"),
    ("sentence-and-tokens", WNUT, {}, ['{"sentence": "a", "tokens": ["a"]}'],
     r"input line 1: 'sentence' \(a string\) comes instead of 'tokens' \(a list of strings\): give one, not both"),
    ("no-tokens", WNUT, {}, ['{"tokens": []}'], r"input line 1: A sentence needs at least one token\."),
    ("feature-value-is-a-string", SCENE, {}, ['{"features": {"3": "abc"}}'],
     r"input line 1: field features\['3'\] must be a finite number, got the string 'abc'"),
    ("features-is-a-string", SCENE, {}, ['{"features": "abc"}'],
     r"input line 1: field features must be a list of finite numbers or an object of finite numbers, got the "
     r"string 'abc'"),
    ("dense-features-of-wrong-length", SCENE, {}, ['{"features": [1, 2]}'],
     r"input line 1: Expected 294 dense feature values, got an array of shape \(2,\)\."),
    ("unknown-field", SCENE, {}, ['{"feature": {"3": 1}}'],
     r"input line 1: unknown fields \['feature'\]: the ArffDatasetReader takes the fields \['features', 'labels'\]"),
    ("missing-field", SCENE, {}, ['{}'], r"input line 1: missing fields \['features'\] \(ArffDatasetReader needs "
                                         r"them\)"),
    ("image-is-a-string", OCR, {}, ['{"images": "x"}'],
     r"input line 1: field images must be a list of \(lists of finite numbers or lists of lists of finite "
     r"numbers\), got the string 'x'"),
    ("image-of-wrong-shape", OCR, {}, ['{"images": [[1, 2]]}'],
     r"input line 1: Image 0 has shape \(2,\); expected \(128,\) or \(16, 8\)\."),
    ("text-is-a-number", DEBTAGS, {}, ['{"text": 5}'], r"input line 1: field text must be a string, got the number 5"),
    ("text-field-is-a-list", DEBTAGS, {}, ['{"title": ["x"]}'],
     r"input line 1: Text field 'title' must be a string, got \['x'\]\."),
    # ---- non-finite numbers (item 3): Python's json reads NaN, Infinity and 1e999
    ("nan-literal", SCENE, {}, ['{"features": {"3": NaN}}'],
     r"input line 1: NaN is not a JSON number; inputs must be finite numbers"),
    ("infinity-literal", OCR, {}, ['{"images": [[-Infinity]]}'],
     r"input line 1: -Infinity is not a JSON number; inputs must be finite numbers"),
    ("number-overflowing-to-infinity", SCENE, {}, ['{"features": {"3": 1e999}}'],
     rf"input line 1: field features\['3'\] {FINITE}, got Infinity"),
    ("pixel-overflowing-to-infinity", OCR, {}, [json.dumps({"images": [IMAGE[:5] + [1] + IMAGE[6:]]})
                                                .replace("1,", "1e999,")],
     rf"input line 1: field images\[0\]\[5\] {FINITE}, got Infinity"),
    # ---- lines that are not JSON objects (item 8): blank lines are not counted
    ("json-list-line", SCENE, {}, ['[1, 2]'], r"input line 1: expected a JSON object \{\.\.\.\}, found a list of 2 "
                                              r"items"),
    ("not-json-after-a-blank-line", SCENE, {}, ['{"features": {"3": 1}}', '', 'not json'],
     r"input line 2: not valid JSON \(Expecting value: line 1 column 1 \(char 0\)\)"),
    # ---- what is right
    ("byte-order-mark-on-the-first-line", SCENE, {}, ['\ufeff{"features": {"3": 1}}'], [prediction]),
    ("gold-field-ignored-whatever-its-type", SCENE, {}, ['{"features": {"3": 1}, "labels": "Beach"}'], [prediction]),
    ("skip-goes-on-past-bad-lines", SCENE, {"on_bad_input": "skip"},
     ['{"features": {"3": 1}}', 'not json', '{"features": {"3": "x"}}', '{"features": {"3": 0.5}}'],
     [prediction, Error(r"input line 2: not valid JSON .*"), Error(r"input line 3: field features\['3'\] .*"),
      prediction]),
    ("skip-with-tokens", WNUT, {"on_bad_input": "skip"}, ['{"tokens": "Hello world"}', '{"tokens": ["Hello"]}'],
     [Error(r"input line 1: field tokens must be a list of strings, got the string 'Hello world'"), prediction]),
]


@pytest.fixture(scope="module")
def archives(archive):
    """Each config's loaded archive, loaded once."""
    loaded: Dict[str, Any] = {}
    return lambda config: loaded.setdefault(config, load_archive(str(archive(config))))


def predict_lines(predictor: Predictor, lines: List[str], tmp_path: Path, batch_size: int = 1) -> List[Dict]:
    """The output lines of `allennlp predict`'s loop (`_PredictManager`) on `lines`."""
    inputs, outputs = tmp_path / "inputs.jsonl", tmp_path / "outputs.jsonl"
    inputs.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    _PredictManager(predictor, str(inputs), str(outputs), batch_size, False, False).run()
    return [json.loads(line) for line in outputs.read_text().splitlines()]


def check_outputs(outputs: List[Dict], expected: List[Any]) -> None:
    assert len(outputs) == len(expected)
    for output, entry in zip(outputs, expected):
        if isinstance(entry, Error):
            assert set(output) == {"error"} and re.fullmatch(entry, output["error"]), output
        else:
            assert entry(output), output


def check_run(predictor: Predictor, lines: List[str], expected: Union[str, List[Any]], tmp_path: Path,
              batch_size: int = 1) -> None:
    if isinstance(expected, str):
        with pytest.raises(ConfigurationError) as error:
            predict_lines(predictor, lines, tmp_path, batch_size)
        assert re.fullmatch(expected, str(error.value)), str(error.value)
    else:
        check_outputs(predict_lines(predictor, lines, tmp_path, batch_size), expected)


@pytest.mark.parametrize("config, args, lines, expected", [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_bad_input_line(archives, tmp_path, config, args, lines, expected):
    check_run(Predictor.from_archive(archives(config), extra_args=args), lines, expected, tmp_path)


def test_skip_in_batches_keeps_one_output_per_input_line(archives, tmp_path):
    predictor = Predictor.from_archive(archives(SCENE), extra_args={"on_bad_input": "skip"})
    lines = ['{"features": {"3": 1}}', '[]', '{"features": {"3": 0.5}}', '{"features": {"1": NaN}}',
             '{"features": {"2": 1}}']
    expected = [prediction, Error(r"input line 2: expected a JSON object .*"), prediction,
                Error(r"input line 4: NaN is not a JSON number.*"), prediction]
    check_run(predictor, lines, expected, tmp_path, batch_size=2)


def test_a_prediction_is_never_written_with_nan(archives, tmp_path, monkeypatch):
    """A model output holding NaN is an error naming the input line (or, skipping, an error line)."""
    predictor = Predictor.from_archive(archives(SCENE))
    forward = predictor._model.forward_on_instances

    def nan_for_the_second(instances):
        outputs = forward(instances)
        if len(outputs) == 2:
            outputs[1]["probabilities"][2] = math.nan
        return outputs

    monkeypatch.setattr(predictor._model, "forward_on_instances", nan_for_the_second)
    lines = ['{"features": {"3": 1}}', '{"features": {"3": 2}}']
    message = r"input line 2: the prediction's probabilities\[2\] is not a finite number \(the model overflowed .*"
    check_run(predictor, lines, message, tmp_path, batch_size=2)
    skipping = Predictor.from_archive(archives(SCENE), extra_args={"on_bad_input": "skip"})
    monkeypatch.setattr(skipping._model, "forward_on_instances", nan_for_the_second)
    check_run(skipping, lines, [prediction, Error(message)], tmp_path, batch_size=2)
    with pytest.raises(ConfigurationError, match=r"the prediction's probabilities\[0\] is not a finite number"):
        predictor.dump_line({"probabilities": [math.nan]})


def test_huge_but_finite_inputs_give_a_finite_prediction_or_an_error(archives):
    predictor = Predictor.from_archive(archives(SCENE))
    for value in (3e38, -3e38):
        try:
            output = predictor.predict_json({"features": [value] * 294})
        except ConfigurationError as error:
            assert re.fullmatch(r"input: the prediction's .* is not a finite number .*", str(error))
        else:
            assert all(math.isfinite(p) for p in output["probabilities"])


def test_an_unknown_on_bad_input_is_refused(archives):
    with pytest.raises(ConfigurationError, match=r"on_bad_input must be one of \['stop', 'skip'\], got 'ignore'"):
        Predictor.from_archive(archives(SCENE), extra_args={"on_bad_input": "ignore"})


def test_python_callers_get_the_batch_position(archives):
    predictor = Predictor.from_archive(archives(WNUT))
    with pytest.raises(ConfigurationError, match=r"^input 2 of 2: field tokens must be a list of strings"):
        predictor.predict_batch_json([{"tokens": ["a"]}, {"tokens": "a b"}])
    assert isinstance(predictor, SealPredictor)


# ---- the seal-srl predictor (a stub tagger: the input checks are the predictor's) -------------
SRL_CASES = [
    ("srl-tokens-is-a-string", {}, ['{"tokens": "The cat sat"}'],
     r"input line 1: 'tokens' must be a list of non-empty strings; got 'The cat sat'"),
    ("srl-json-string-line", {}, ['"The cat sat ."'], r"input line 1: expected a JSON object \{\.\.\.\}, found the "
                                                       r"string 'The cat sat \.'"),
    ("srl-neither-sentence-nor-tokens", {}, ['{"text": "The cat sat ."}'],
     r"input line 1: SRL input needs either 'sentence' \(a string\) or 'tokens' \(a list of strings\); got .*"),
    ("srl-skip", {"on_bad_input": "skip"}, ['{"sentence": "The cat sat ."}', '{"sentence": 5}', 'x',
                                            '{"tokens": ["A", "cat", "sat"]}'],
     [frames, Error(r"input line 2: 'sentence' must be a string; got 5"), Error(r"input line 3: not valid JSON .*"),
      frames]),
]


@pytest.mark.parametrize("args, lines, expected", [case[1:] for case in SRL_CASES], ids=[c[0] for c in SRL_CASES])
def test_bad_srl_input_line(tmp_path, args, lines, expected):
    pytest.importorskip(SPACY_MODEL)
    check_run(SealSrlPredictor(StubTagger(), Conll2012SrlReader(), **args), lines, expected, tmp_path)
