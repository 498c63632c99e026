"""A dataset reader for text multi-label classification in JSON lines.

One JSON object per line, blank lines skipped, plain or gzipped (detected by its magic bytes).
The layouts of the usual data sets differ only in field names, which the reader is told:

- debtags (`data/debtags`): `{"id": ..., "title": ..., "text": ..., "labels": [...]}`
  (the defaults);
- AAPD-like: `{"text": ..., "labels": ["cs.LG", ...]}` (`text_fields: ["text"]`);
- RCV1-like: `{"id": ..., "headline": ..., "text": ..., "topics": ["CCAT", ...]}`
  (`text_fields: ["headline", "text"], label_field: "topics"`);
- NYT-like: `{"headline": ..., "body": ..., "labels": [...]}` (`text_fields: ["headline", "body"]`).
"""
import json
import logging
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import Field, MetadataField, TextField
from allennlp.data.token_indexers import SingleIdTokenIndexer, TokenIndexer
from allennlp.data.tokenizers import SpacyTokenizer, Token, Tokenizer

from seal.data.dataset_readers.checked import CheckedDatasetReader
from seal.data.fields import LabelSetField
from seal.data.file_io import line_error, no_data_error, open_text

logger = logging.getLogger(__name__)

# (the joined text, the labels, the id or None) of one data line.
_Record = Tuple[str, List[str], Any]


@DatasetReader.register("text-multilabel")
class TextMultilabelReader(CheckedDatasetReader):
    """
    Reads text multi-label classification data from JSON-lines files lazily, one `Instance` per
    non-blank line, with
    - `"tokens"`: `TextField` of the tokenized text (the non-empty `text_fields` joined with
      `separator`), cut to `max_tokens`; indexers are set by `apply_token_indexers`,
    - `"labels"`: `LabelSetField(the line's labels, label_set)` in `label_namespace` (the field
      our multi-label models expect); every instance shares the same `label_set` list, so a
      vocabulary built from the instances holds the complete label set in label-set order,
    - `"metadata"`: `MetadataField({"id": ..., "text": the joined text})` (`"id"` only if the line
      has a non-null `id_field`).

    **Label set.**  With `label_file` (one label per line, blank lines ignored) the label set is
    that file's labels in file order.  Without it, the first file this reader reads fixes the
    label set: all labels used in that file, sorted (the file is scanned once before its
    instances are yielded).  `allennlp train` reads the training data first, so the label set is
    the training labels, and a validation or test file using any other label is an error.  The
    collected label set lives in the reader object: with data-loader workers
    (`num_workers > 0`) each worker collects it from the first file it reads, so set `label_file`
    there (and whenever dev/test may hold labels that training lacks).

    **Errors.**  `ConfigurationError` naming the file and the 1-based line for a line that is not
    valid JSON or not a JSON object, a listed text field that is absent or null (unless listed in
    `optional_fields`) or not a string, a line whose text is empty, a `label_field` that is absent
    or not a list of strings, and a label outside the label set; naming the file for a file
    without data lines.  A model indexing the instances must know every label of the label set;
    with `label_file` (a declared label set) it must also know no other label (see `LabelSetField`).

    # Parameters

    text_fields : `List[str]`, optional (default = `["title", "text"]`)
        JSON fields whose (stripped, non-empty) strings are joined into the text, in this order.
    optional_fields : `List[str]`, optional (default = `[]`)
        Those of `text_fields` that may be absent or null in a line.
    separator : `str`, optional (default = `" . "`)
        Put between the joined fields; a stand-alone period, so that a title without final
        punctuation ends like a sentence for every tokenizer (also whitespace splitting).
    label_field : `str`, optional (default = `"labels"`)
        JSON field holding the list of the line's labels (e.g. `"topics"` for RCV1).
    label_file : `Optional[str]`, optional (default = `None`)
        The label set, one label per line (order kept).  Read when first needed, not in the
        constructor, so an archived configuration works where the file is gone (for prediction
        without labels).
    id_field : `Optional[str]`, optional (default = `"id"`)
        JSON field copied to the metadata when present; `None` copies nothing.
    tokenizer : `Tokenizer`, optional (default = `SpacyTokenizer(language="blank:en")`)
        spaCy's rule-based English tokenizer without a model download (splits punctuation,
        drops whitespace such as the newlines in debtags descriptions).  For a transformer
        task-net use a `pretrained_transformer` tokenizer (with a matching indexer).
    token_indexers : `Dict[str, TokenIndexer]`, optional
        (default = `{"tokens": SingleIdTokenIndexer(lowercase_tokens=True)}`)
    max_tokens : `Optional[int]`, optional (default = `None`)
        Keep at most this many tokens (wordpieces with a transformer tokenizer, its special
        tokens included: a final special token such as `[SEP]` is kept at the end).
    label_namespace : `str`, optional (default = `"labels"`)
    **kwargs
        Passed to `DatasetReader` (e.g. `max_instances`); manual sharding is always on.
    """

    empty_data = "no non-blank lines"

    def __init__(
        self,
        text_fields: Optional[List[str]] = None,
        optional_fields: Optional[List[str]] = None,
        separator: str = " . ",
        label_field: str = "labels",
        label_file: Optional[str] = None,
        id_field: Optional[str] = "id",
        tokenizer: Optional[Tokenizer] = None,
        token_indexers: Optional[Dict[str, TokenIndexer]] = None,
        max_tokens: Optional[int] = None,
        label_namespace: str = "labels",
        **kwargs: Any,
    ) -> None:
        kwargs.update(manual_distributed_sharding=True, manual_multiprocess_sharding=True)
        super().__init__(**kwargs)
        self._text_fields = list(text_fields) if text_fields is not None else ["title", "text"]
        self._optional_fields = set(optional_fields or [])
        self._separator = separator
        self._label_field = label_field
        self._label_file = label_file
        self._id_field = id_field
        self._tokenizer = tokenizer or SpacyTokenizer(language="blank:en")
        self._token_indexers = token_indexers or {"tokens": SingleIdTokenIndexer(lowercase_tokens=True)}
        self._max_tokens = max_tokens
        self._label_namespace = label_namespace
        self._end_tokens: List[Token] = list(getattr(self._tokenizer, "single_sequence_end_tokens", []))
        self._check_options()
        self._label_set: Optional[List[str]] = None
        self._label_index: frozenset = frozenset()
        self._label_source: Optional[str] = None

    def _check_options(self) -> None:
        if not self._text_fields:
            raise ConfigurationError("'text_fields' must name at least one JSON field.")
        unknown = self._optional_fields - set(self._text_fields)
        if unknown:
            raise ConfigurationError(f"'optional_fields' {sorted(unknown)} are not in 'text_fields'.")
        if self._label_field in self._text_fields:
            raise ConfigurationError(f"'label_field' {self._label_field!r} is also a text field.")
        start = getattr(self._tokenizer, "single_sequence_start_tokens", [])
        special = len(start) + len(self._end_tokens)
        if self._max_tokens is not None and self._max_tokens <= special:
            raise ConfigurationError(
                f"'max_tokens' must exceed the tokenizer's {special} special tokens, got {self._max_tokens}."
            )

    @property
    def label_set(self) -> Optional[List[str]]:
        """The label set: from `label_file` or from the first file read; `None` before that."""
        return self._label_set

    def _read(self, file_path: str) -> Iterable[Instance]:
        """One instance per non-blank line of the file, only the lines of this shard."""
        path = cached_path(file_path)
        if self._label_set is None:
            self._fix_label_set(path)
        for line_no, line in self.shard_iterable(_lines(path)):
            text, labels, id_ = self._parse(path, line_no, line)
            self._check_labels(path, line_no, labels)
            yield self._make_instance(text, labels, id_, path)

    def text_to_instance(  # type: ignore[override]
        self, text: Optional[str] = None, labels: Optional[List[str]] = None, **fields: Any
    ) -> Instance:
        """
        An instance from raw inputs, e.g. a predictor's `{"text": ...}` or `{"title": ...,
        "text": ...}`: the text fields are taken from `text` (the field `"text"`) and `fields`;
        missing ones are skipped, and if none of `text_fields` is given, `text` alone is the text.
        `labels` (or `fields[label_field]`) is optional; without labels there is no `"labels"`
        field, and the label set need not be known (as in a fresh process after loading an
        archive).  `fields[id_field]` goes to the metadata; other keys are ignored.
        """
        values = dict(fields, **({"text": text} if text is not None else {}))
        if labels is None:
            labels = values.get(self._label_field)
        names = [name for name in self._text_fields if values.get(name) is not None] or ["text"]
        for name in names:
            if not isinstance(values.get(name), str):
                raise ConfigurationError(f"Text field {name!r} must be a string, got {values.get(name)!r}.")
        joined = self._join([values[name] for name in names])
        if not joined:
            raise ConfigurationError(f"No text given: expected `text` or one of {self._text_fields}.")
        if labels is not None:
            self._check_instance_labels(labels)
        return self._make_instance(joined, labels, values.get(self._id_field) if self._id_field else None)

    def apply_token_indexers(self, instance: Instance) -> None:
        instance.fields["tokens"]._token_indexers = self._token_indexers  # type: ignore

    def _make_instance(
        self, text: str, labels: Optional[List[str]], id_: Any, source: Optional[str] = None
    ) -> Instance:
        tokens = _truncate(self._tokenizer.tokenize(text), self._max_tokens, self._end_tokens)
        fields: Dict[str, Field] = {"tokens": TextField(tokens)}
        if labels is not None:
            fields["labels"] = LabelSetField(
                labels, self._label_set, self._label_namespace, source, declared=self._label_file is not None
            )
        metadata = {"text": text} if id_ is None else {"id": id_, "text": text}
        fields["metadata"] = MetadataField(metadata)
        return Instance(fields)

    # ---------------------------------------------------------------------------- parsing

    def _parse(self, path: str, line_no: int, line: str) -> _Record:
        """(text, labels, id) of one non-blank line; errors name file and line."""
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise line_error(path, line_no, f"not valid JSON ({error})")
        if not isinstance(record, dict):
            raise line_error(path, line_no, f"expected a JSON object, found {type(record).__name__}")
        text = self._join(self._text_values(path, line_no, record))
        if not text:
            raise line_error(path, line_no, f"the text (fields {self._text_fields}) is empty")
        labels = _label_list(path, line_no, record, self._label_field)
        id_ = record.get(self._id_field) if self._id_field else None
        return text, labels, id_

    def _text_values(self, path: str, line_no: int, record: Dict[str, Any]) -> List[str]:
        """The strings of the text fields present in `record`; required ones must be present."""
        values = []
        for name in self._text_fields:
            value = record.get(name)
            if value is None:
                if name not in self._optional_fields:
                    raise line_error(path, line_no, f"missing text field {name!r} (expected a string; "
                                 "list it in 'optional_fields' if it may be absent)")
                continue
            if not isinstance(value, str):
                raise line_error(path, line_no, f"text field {name!r} must be a string, got {value!r}")
            values.append(value)
        return values

    def _join(self, values: Sequence[str]) -> str:
        return self._separator.join(value.strip() for value in values if value.strip())

    # -------------------------------------------------------------------------- label set

    def _fix_label_set(self, path: Optional[str]) -> None:
        """Sets the label set from `label_file`, or else from all labels used in `path`."""
        if self._label_file is not None:
            labels, source = _read_label_file(cached_path(self._label_file)), self._label_file
        elif path is not None:
            labels, source = self._collect_labels(path), path
        else:
            raise ConfigurationError(
                "The label set is unknown: set the reader's 'label_file' or read the training file first."
            )
        self._label_set, self._label_index, self._label_source = labels, frozenset(labels), source

    def _collect_labels(self, path: str) -> List[str]:
        """All labels used in `path`, sorted (the whole file is parsed, so errors show up here)."""
        used, empty = set(), True
        for line_no, line in _lines(path):
            used.update(self._parse(path, line_no, line)[1])
            empty = False
        if empty:
            raise no_data_error(path, self.empty_data)
        if not used:
            raise ConfigurationError(f"{path}: no labels found to make the label set from.")
        logger.info("Label set of %d labels collected from %s.", len(used), path)
        return sorted(used)

    def _check_labels(self, path: str, line_no: int, labels: List[str]) -> None:
        unknown = [label for label in labels if label not in self._label_index]
        if unknown:
            raise line_error(path, line_no, f"labels {unknown} are not in the label set {self._source_text()}")

    def _check_instance_labels(self, labels: Any) -> None:
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise ConfigurationError(f"Labels must be a list of strings, got {labels!r}.")
        if self._label_set is None:
            self._fix_label_set(None)
        unknown = [label for label in labels if label not in self._label_index]
        if unknown:
            raise ConfigurationError(f"Labels {unknown} are not in the label set {self._source_text()}.")

    def _source_text(self) -> str:
        if self._label_file is not None:
            return f"of the label file {self._label_file}"
        return (f"collected from the first file read, {self._label_source}; set the reader's "
                "'label_file' to the complete label set if other files may use more labels")


def _lines(path: str) -> Iterator[Tuple[int, str]]:
    """(1-based line number, stripped line) of the non-blank lines of a plain or gzipped file."""
    with open_text(path) as text:
        for line_no, line in enumerate(text, 1):
            line = line.strip()
            if line:
                yield line_no, line


def _label_list(path: str, line_no: int, record: Dict[str, Any], field: str) -> List[str]:
    labels = record.get(field)
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        found = "nothing" if field not in record else repr(labels)
        raise line_error(path, line_no, f"label field {field!r} must be a JSON list of strings, found {found}")
    return labels


def _read_label_file(path: str) -> List[str]:
    """The labels of a label file (one per line, blank lines ignored, no duplicates)."""
    labels: Dict[str, int] = {}
    for line_no, label in _lines(path):
        if label in labels:
            raise line_error(path, line_no, f"label {label!r} repeats line {labels[label]}")
        labels[label] = line_no
    if not labels:
        raise ConfigurationError(f"The label file {path} has no labels.")
    return list(labels)


def _truncate(tokens: List[Token], max_tokens: Optional[int], end_tokens: List[Token]) -> List[Token]:
    """The first `max_tokens` tokens; if `tokens` ends with the tokenizer's end tokens (e.g.
    `[SEP]`), they stay at the end."""
    if max_tokens is None or len(tokens) <= max_tokens:
        return tokens
    count = len(end_tokens)
    if count and [t.text for t in tokens[-count:]] == [t.text for t in end_tokens]:
        return tokens[: max_tokens - count] + tokens[-count:]
    return tokens[:max_tokens]
