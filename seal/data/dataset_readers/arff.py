"""A dataset reader for multi-label ARFF files in the MEKA and the MULAN layouts.

**MEKA** files name their labels in the relation: `@relation 'bibtex: -C 159'` means the first 159
attributes are the labels, `@relation 'scene: -C -6'` means the last 6 are.  **MULAN** files keep
the label names in a separate XML file
(`<labels xmlns="http://mulan.sourceforge.net/labels"><label name="Beach"></label>...</labels>`);
the labels are the attributes with those names.  Every other attribute is a feature.

Rows may be dense (`0.1,0.2,...,0,1`) or sparse (`{0 1,5 1,300 0.5}`, omitted values are 0, indices
count over all attributes).  A missing value `?` is 0 for a feature and an error for a label; a
feature value that is NaN or infinite (or beyond float32's range) is an error.
"""
import glob
import logging
import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import TensorField

from seal.data.dataset_readers.checked import CheckedDatasetReader
from seal.data.fields import LabelSetField
from seal.data.file_io import first_nonfinite, line_error, open_text

logger = logging.getLogger(__name__)

_MEKA_NUM_LABELS = re.compile(r"-C\s+(-?\d+)")
_NUMERIC_TYPES = {"numeric", "real", "integer"}
_GLOB_CHARS = "*?["
_NOT_FINITE = "feature values must be finite numbers (not NaN or infinite, within float32's range)"

# (1-based line number, raw line) pairs of an open file.
_Lines = Iterator[Tuple[int, str]]


@dataclass
class _Header:
    """What an ARFF header says: attribute names (file order), which are labels, where lines are."""

    path: str
    relation: str
    relation_line: int
    names: List[str]
    lines: List[int]  # line of each @attribute
    data_line: int
    label_attributes: np.ndarray  # attribute indices of the labels, ascending
    feature_attributes: np.ndarray  # attribute indices of the features, ascending
    label_names: Tuple[str, ...]
    feature_of: List[int]  # attribute index -> feature position, or -1 for a label
    label_of: List[int]  # attribute index -> label position, or -1 for a feature

    @property
    def num_features(self) -> int:
        return len(self.feature_attributes)


@DatasetReader.register("arff")
class ArffDatasetReader(CheckedDatasetReader):
    """
    Reads multi-label ARFF files (MEKA or MULAN layout, dense or sparse rows) lazily.

    Each data row becomes an `Instance` with
    - `"x"`: `TensorField` of a float32 array of shape `(num_features,)` (features in file order),
    - `"labels"`: `LabelSetField(positive label names, label_set=all label names in file order)`,
      so a vocabulary built from the instances has label index i == i-th label attribute.  The
      header declares the label set, so a model indexing these instances must know exactly these
      labels (by name, in any order): `evaluate` on a file lacking a label of the model, or with
      one it does not know, is a `ConfigurationError`, not a label scored as always absent.

    `file_path` may be a plain or gzipped file (detected by its magic bytes), or a glob such as
    `data/bibtex-fold[1-8].arff`, whose files are read in sorted order and must share a header.
    Rows are sharded with `shard_iterable`, so the reader works with distributed training and
    data-loader workers.  Malformed input raises `ConfigurationError` naming file and line, and
    so does a file without data rows.

    # Parameters

    label_xml : `Optional[str]`, optional (default = `None`)
        MULAN label file.  If `None` and neither `num_labels` nor a `-C n` option in the relation
        says where the labels are, the reader uses `<stem>.xml` next to the data file, where
        `<stem>` is the file name up to its first `-` (`scene-train.arff` -> `scene.xml`), or the
        whole name without `.arff`/`.gz`.
    num_labels : `Optional[int]`, optional (default = `None`)
        Overrides the relation's `-C`: n > 0 means the first n attributes are labels, n < 0 the
        last |n|.  Cannot be combined with `label_xml`.
    num_features : `Optional[int]`, optional (default = `None`)
    label_names : `Optional[List[str]]`, optional (default = `None`)
        What `text_to_instance` needs on a reader that never read a file (e.g. in a predictor).
        A file whose header disagrees with a configured value raises `ConfigurationError`.
    label_namespace : `str`, optional (default = `"labels"`)
        Vocabulary namespace of the `"labels"` field.
    **kwargs
        Passed to `DatasetReader` (e.g. `max_instances`); manual sharding is always on.
    """

    empty_data = "no data rows after the @data line"

    def __init__(
        self,
        label_xml: Optional[str] = None,
        num_labels: Optional[int] = None,
        num_features: Optional[int] = None,
        label_names: Optional[List[str]] = None,
        label_namespace: str = "labels",
        **kwargs: Any,
    ) -> None:
        kwargs.update(manual_distributed_sharding=True, manual_multiprocess_sharding=True)
        super().__init__(**kwargs)
        _check_options(label_xml, num_labels, num_features, label_names)
        self._label_xml = label_xml
        self._num_labels = num_labels
        self._num_features = num_features
        self._label_names = tuple(label_names) if label_names is not None else None
        self._configured = (self._num_features, self._label_names)
        self._label_namespace = label_namespace

    @property
    def num_features(self) -> Optional[int]:
        """Number of features: configured, or from the header of the last file read."""
        return self._num_features

    @property
    def label_names(self) -> Optional[Tuple[str, ...]]:
        """Label names in file order: configured, or from the header of the last file read."""
        return self._label_names

    def _read(self, file_path: str) -> Iterable[Instance]:
        """Yields one instance per data row of the file(s), only the rows of this shard."""
        rows = self._rows(_resolve_paths(str(file_path)))
        for header, line_no, line in self.shard_iterable(rows):
            x, labels = _parse_row(header, line_no, line)
            yield self._make_instance(x, labels, header.label_names, header.path)

    def text_to_instance(  # type: ignore[override]
        self,
        features: Union[Sequence[float], np.ndarray, Mapping[Union[int, str], float]],
        labels: Optional[List[str]] = None,
    ) -> Instance:
        """
        Builds an instance from dense `features` (length `num_features`) or a sparse dict
        `{feature_index: value}` (0-based feature indices, int or str keys, others 0), and
        optionally the positive `labels` (names).  Without `labels` there is no `"labels"` field.
        Needs `num_features` (and `label_names` when `labels` is given): configured or read.
        A value that is not a finite number raises `ConfigurationError` naming its feature.
        """
        num_features = self._require("num_features", self._num_features)
        x = _features_array(features, num_features)
        label_set = self._require("label_names", self._label_names) if labels is not None else None
        return self._make_instance(x, labels, label_set)

    def _make_instance(
        self,
        x: np.ndarray,
        labels: Optional[List[str]],
        label_set: Optional[Sequence[str]],
        source: Optional[str] = None,
    ) -> Instance:
        fields: Dict[str, Any] = {"x": TensorField(x)}
        if labels is not None:
            fields["labels"] = LabelSetField(labels, label_set, self._label_namespace, source=source)
        return Instance(fields)

    def _require(self, name: str, value: Any) -> Any:
        if value is None:
            raise ConfigurationError(
                f"ArffDatasetReader.text_to_instance needs {name}: set 'num_features' and "
                "'label_names' in the dataset reader's configuration, or read a file first."
            )
        return value

    def _rows(self, paths: List[str]) -> Iterator[Tuple[_Header, int, str]]:
        """(header, line number, stripped line) of every data row of `paths`, in order."""
        first: Optional[_Header] = None
        for path in paths:
            with open_text(path) as text:
                lines = enumerate(text, 1)
                header = self._read_header(path, lines)
                if first is None:
                    first = header
                    self._adopt(header)
                else:
                    _check_same_header(first, header)
                for line_no, raw in lines:
                    line = raw.strip()
                    if line and line[0] != "%":
                        yield header, line_no, line

    def _read_header(self, path: str, lines: _Lines) -> _Header:
        relation, relation_line, names, name_lines, data_line = _parse_header(path, lines)
        labels = self._label_attributes(path, relation, relation_line, names, data_line)
        return _make_header(path, relation, relation_line, names, name_lines, data_line, labels)

    def _label_attributes(
        self, path: str, relation: str, relation_line: int, names: List[str], data_line: int
    ) -> List[int]:
        """Attribute indices of the labels: `num_labels` > `label_xml` > `-C n` > `<stem>.xml`."""
        if self._num_labels is not None:
            return _first_or_last(self._num_labels, len(names), path, relation_line)
        if self._label_xml is not None:
            return _xml_label_attributes(cached_path(self._label_xml), names, path, data_line)
        match = _MEKA_NUM_LABELS.search(relation)
        if match:
            return _first_or_last(int(match.group(1)), len(names), path, relation_line)
        xml_path = _find_label_xml(path, relation, relation_line)
        return _xml_label_attributes(xml_path, names, path, data_line)

    def _adopt(self, header: _Header) -> None:
        """Takes num_features and label_names from a file's header; configured values must agree
        (the model's input size is usually configured from the same number)."""
        num_features, label_names = self._configured
        if num_features is not None and num_features != header.num_features:
            raise line_error(header.path, header.data_line,
                             f"the file has {header.num_features} features, the reader is configured "
                             f"with num_features={num_features}")
        if label_names is not None and label_names != header.label_names:
            raise line_error(header.path, header.data_line,
                             f"the file's labels {list(header.label_names)} differ from the configured "
                             f"label_names {list(label_names)}")
        self._num_features = header.num_features
        self._label_names = header.label_names


def _check_options(
    label_xml: Optional[str],
    num_labels: Optional[int],
    num_features: Optional[int],
    label_names: Optional[List[str]],
) -> None:
    """Rejects contradictory or impossible constructor arguments."""
    if label_xml is not None and num_labels is not None:
        raise ConfigurationError("Set at most one of 'label_xml' and 'num_labels'.")
    if num_labels == 0:
        raise ConfigurationError("'num_labels' must not be 0 (no labels).")
    if num_features is not None and num_features <= 0:
        raise ConfigurationError(f"'num_features' must be positive, got {num_features}.")
    if label_names is not None and len(set(label_names)) != len(label_names):
        raise ConfigurationError(f"'label_names' has duplicates: {label_names}.")


# ----------------------------------------------------------------------------------------- files


def _resolve_paths(file_path: str) -> List[str]:
    """An existing file (or URL) as is; otherwise a glob's matches in sorted order."""
    if any(char in file_path for char in _GLOB_CHARS) and not os.path.exists(file_path):
        paths = sorted(glob.glob(file_path))
        if not paths:
            raise ConfigurationError(f"No file matches the glob {file_path!r}.")
        return paths
    return [cached_path(file_path)]


def _find_label_xml(path: str, relation: str, relation_line: int) -> str:
    """`<stem>.xml` next to `path` (stem: name up to the first '-', then the whole name)."""
    base = os.path.basename(path)
    for extension in (".gz", ".arff"):
        if base.lower().endswith(extension):
            base = base[: -len(extension)]
    stems = dict.fromkeys([base.split("-", 1)[0], base])
    candidates = [os.path.join(os.path.dirname(path), stem + ".xml") for stem in stems]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise line_error(
        path,
        relation_line,
        f"the relation {relation!r} has no MEKA '-C n' option and no MULAN label file exists "
        f"(looked for {candidates}); set the reader's 'label_xml' or 'num_labels'",
    )


def _xml_label_names(xml_path: str) -> List[str]:
    """The `name`s of all `<label>` elements (any namespace, nested ones too) in document order."""
    try:
        root = ElementTree.parse(xml_path).getroot()
    except ElementTree.ParseError as error:
        raise line_error(xml_path, error.position[0], f"not a valid MULAN label file: {error}")
    return [el.get("name", "") for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "label"]


def _xml_label_attributes(xml_path: str, names: List[str], path: str, data_line: int) -> List[int]:
    """Attribute indices (ascending) of the labels that `xml_path` names."""
    index = {name: i for i, name in enumerate(names)}
    labels = _xml_label_names(xml_path)
    if not labels:
        raise line_error(path, data_line, f"no labels found: {xml_path} has no <label name=...> element")
    missing = [label for label in labels if label not in index]
    if missing:
        raise line_error(
            path, data_line, f"labels {missing} named in {xml_path} are not attributes of the header"
        )
    return sorted(index[label] for label in labels)


def _first_or_last(num_labels: int, num_attributes: int, path: str, line_no: int) -> List[int]:
    """Attribute indices of the first `num_labels` (> 0) or the last `-num_labels` (< 0)."""
    if num_labels == 0:
        raise line_error(path, line_no, "no labels found: the number of labels (-C) is 0")
    if abs(num_labels) >= num_attributes:
        raise line_error(
            path, line_no, f"{abs(num_labels)} labels leave no feature among {num_attributes} attributes"
        )
    if num_labels > 0:
        return list(range(num_labels))
    return list(range(num_attributes + num_labels, num_attributes))


# ---------------------------------------------------------------------------------------- header


def _parse_header(path: str, lines: _Lines) -> Tuple[str, int, List[str], List[int], int]:
    """Consumes `lines` up to `@data`: (relation, its line, attribute names, their lines, @data line)."""
    relation, relation_line = "", 1
    names: List[str] = []
    name_lines: List[int] = []
    line_no = 0
    for line_no, raw in lines:
        line = raw.strip()
        if not line or line[0] == "%":
            continue
        keyword, rest = _split_first(line)
        keyword = keyword.lower()
        if keyword == "@data":
            return _checked_header(path, relation, relation_line, names, name_lines, line_no)
        if keyword == "@relation":
            relation, relation_line = _unquote(rest.strip()), line_no
        elif keyword == "@attribute":
            names.append(_parse_attribute(rest, path, line_no))
            name_lines.append(line_no)
        else:
            raise line_error(path, line_no, f"unexpected line in the header: {line[:60]!r}")
    raise line_error(path, line_no, "reached the end of the file without an @data line")


def _checked_header(
    path: str, relation: str, relation_line: int, names: List[str], name_lines: List[int], data_line: int
) -> Tuple[str, int, List[str], List[int], int]:
    """Rejects headers without attributes or with duplicate attribute names."""
    if not names:
        raise line_error(path, data_line, "no @attribute lines before @data")
    seen: Dict[str, int] = {}
    for name, line_no in zip(names, name_lines):
        if name in seen:
            raise line_error(path, line_no, f"attribute {name!r} is declared twice")
        seen[name] = line_no
    return relation, relation_line, names, name_lines, data_line


def _split_first(text: str) -> Tuple[str, str]:
    """(first whitespace-delimited word, the stripped rest or "")."""
    pieces = text.split(None, 1)
    return pieces[0], pieces[1].strip() if len(pieces) > 1 else ""


def _unquote(text: str) -> str:
    """Removes one pair of surrounding single or double quotes (and unescapes that quote)."""
    if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
        return text[1:-1].replace("\\" + text[0], text[0])
    return text


def _parse_attribute(rest: str, path: str, line_no: int) -> str:
    """The name of an `@attribute <name> <type>` line (name maybe quoted); checks the type."""
    rest = rest.strip()
    if not rest:
        raise line_error(path, line_no, "@attribute without a name and a type")
    if rest[:1] in ("'", '"'):
        end = _closing_quote(rest)
        if end < 0:
            raise line_error(path, line_no, f"unterminated quoted attribute name in {rest!r}")
        name, kind = _unquote(rest[: end + 1]), rest[end + 1 :].strip()
    else:
        name, kind = _split_first(rest)
    _check_type(name, kind, path, line_no)
    return name


def _closing_quote(text: str) -> int:
    """Index of the quote closing `text[0]`, skipping backslash-escaped ones; -1 if none."""
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == text[0]:
            return i
        i += 1
    return -1


def _check_type(name: str, kind: str, path: str, line_no: int) -> None:
    """Accepts numeric/real/integer and nominal types with numeric values (such as {0,1})."""
    if kind.lower() in _NUMERIC_TYPES:
        return
    if kind.startswith("{") and kind.endswith("}"):
        values = [_unquote(value.strip()) for value in kind[1:-1].split(",")]
        if all(_is_number(value) for value in values):
            return
        raise line_error(
            path, line_no, f"nominal attribute {name!r} has non-numeric values {kind}; only numeric "
            "nominal values such as {0,1} are supported"
        )
    raise line_error(
        path, line_no, f"attribute {name!r} has unsupported type {kind!r} "
        "(expected numeric, real, integer or a nominal such as {0,1})"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _make_header(
    path: str,
    relation: str,
    relation_line: int,
    names: List[str],
    name_lines: List[int],
    data_line: int,
    label_attributes: List[int],
) -> _Header:
    """Builds the `_Header` with its attribute -> feature / label position maps."""
    label_set = set(label_attributes)
    features = [i for i in range(len(names)) if i not in label_set]
    feature_of, label_of = [-1] * len(names), [-1] * len(names)
    for position, attribute in enumerate(features):
        feature_of[attribute] = position
    for position, attribute in enumerate(label_attributes):
        label_of[attribute] = position
    return _Header(
        path=path,
        relation=relation,
        relation_line=relation_line,
        names=names,
        lines=name_lines,
        data_line=data_line,
        label_attributes=np.array(label_attributes, dtype=np.int64),
        feature_attributes=np.array(features, dtype=np.int64),
        label_names=tuple(names[i] for i in label_attributes),
        feature_of=feature_of,
        label_of=label_of,
    )


def _check_same_header(first: _Header, other: _Header) -> None:
    """Files of one glob must have the same attributes and labels; else error at the first difference."""
    if other.names == first.names and other.label_names == first.label_names:
        return
    line_no = other.relation_line
    if other.names != first.names:
        differing = [i for i, (a, b) in enumerate(zip(first.names, other.names)) if a != b]
        shorter = min(len(first.names), len(other.names))
        index = differing[0] if differing else shorter
        line_no = other.lines[index] if index < len(other.lines) else other.data_line
    raise line_error(
        other.path, line_no,
        f"header differs from that of {first.path}; files of one glob must share attributes and labels",
    )


# ------------------------------------------------------------------------------------------ rows


def _parse_row(header: _Header, line_no: int, line: str) -> Tuple[np.ndarray, List[str]]:
    """(finite float32 features, positive label names) of one stripped, non-empty data line."""
    with np.errstate(over="ignore"):  # a value beyond float32's range becomes inf, refused below
        x, labels = (_parse_sparse if line[0] == "{" else _parse_dense)(header, line_no, line)
    bad = first_nonfinite(x)
    if bad is not None:
        name = header.names[header.feature_attributes[bad]]
        raise line_error(header.path, line_no, f"feature {name!r} is {x[bad]}: {_NOT_FINITE}")
    return x, labels


def _parse_dense(header: _Header, line_no: int, line: str) -> Tuple[np.ndarray, List[str]]:
    """A dense row: exactly one comma-separated value per attribute."""
    parts = line.split(",")
    if len(parts) != len(header.names):
        raise line_error(
            header.path, line_no, f"expected {len(header.names)} comma-separated values, found {len(parts)}"
        )
    try:
        values = np.array(parts, dtype=np.float64)
    except ValueError:  # '?', quotes or a bad value: parse one by one
        values = np.array(
            [_value(header, i, token, line_no) for i, token in enumerate(parts)], dtype=np.float64
        )
    labels = values[header.label_attributes]
    not_binary = np.flatnonzero((labels != 0) & (labels != 1))
    if len(not_binary):
        attribute = int(header.label_attributes[not_binary[0]])
        raise _label_value_error(header, line_no, attribute, parts[attribute].strip())
    positives = [header.label_names[i] for i in np.flatnonzero(labels == 1)]
    return values[header.feature_attributes].astype(np.float32), positives


def _parse_sparse(header: _Header, line_no: int, line: str) -> Tuple[np.ndarray, List[str]]:
    """A sparse row `{index value,...}`: attribute indices over all attributes, others 0."""
    if line[-1] != "}":
        raise line_error(header.path, line_no, "a sparse row must end with '}'")
    x = np.zeros(header.num_features, dtype=np.float32)
    positive = set()
    body = line[1:-1]
    for entry in body.split(",") if body.strip() else ():
        attribute, token = _sparse_entry(header, line_no, entry)
        feature = header.feature_of[attribute]
        if feature >= 0:
            try:
                x[feature] = float(token)
            except ValueError:
                x[feature] = _value(header, attribute, token, line_no)
        else:
            value = 1.0 if token == "1" else _value(header, attribute, token, line_no)
            if value == 1:
                positive.add(header.label_of[attribute])
            elif value != 0:
                raise _label_value_error(header, line_no, attribute, token)
    return x, [header.label_names[i] for i in sorted(positive)]


def _sparse_entry(header: _Header, line_no: int, entry: str) -> Tuple[int, str]:
    """(attribute index, value token) of one `index value` entry of a sparse row."""
    pieces = entry.split()
    if len(pieces) != 2:
        raise line_error(header.path, line_no, f"sparse entry {entry.strip()!r} is not 'index value'")
    try:
        attribute = int(pieces[0])
    except ValueError:
        raise line_error(header.path, line_no, f"sparse index {pieces[0]!r} is not an integer")
    if not 0 <= attribute < len(header.names):
        raise line_error(
            header.path, line_no, f"sparse index {attribute} is out of range [0, {len(header.names)})"
        )
    return attribute, pieces[1]


def _value(header: _Header, attribute: int, token: str, line_no: int) -> float:
    """One value: unquoted, '?' is 0 for a feature (an error for a label), else a number."""
    token = _unquote(token.strip())
    if token == "?":
        if header.label_of[attribute] >= 0:
            raise line_error(
                header.path, line_no, f"missing value '?' for label {header.names[attribute]!r}"
            )
        return 0.0
    try:
        return float(token)
    except ValueError:
        raise line_error(
            header.path, line_no, f"non-numeric value {token!r} for attribute {header.names[attribute]!r}"
        )


def _label_value_error(header: _Header, line_no: int, attribute: int, token: str) -> ConfigurationError:
    return line_error(
        header.path, line_no, f"label {header.names[attribute]!r} has value {token!r}; labels must be 0 or 1"
    )


def _features_array(
    features: Union[Sequence[float], np.ndarray, Mapping[Union[int, str], float]], num_features: int
) -> np.ndarray:
    """A finite float32 array of shape (num_features,) from a dense sequence or a sparse dict."""
    if isinstance(features, Mapping):
        x = np.zeros(num_features, dtype=np.float32)
        for key, value in features.items():
            x[_feature_index(key, num_features)] = _feature_value(value, f"feature {key!r}")
    else:
        try:
            x = np.array(features, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"Dense features must be numbers: {error}.") from None
        if x.shape != (num_features,):
            raise ConfigurationError(
                f"Expected {num_features} dense feature values, got an array of shape {x.shape}."
            )
    bad = first_nonfinite(x)
    if bad is not None:
        raise ConfigurationError(f"Feature {bad} is {x[bad]}: {_NOT_FINITE}.")
    return x


def _feature_value(value: Any, what: str) -> float:
    """A sparse feature's value as a float; a string or another non-number is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ConfigurationError(f"The value of {what} must be a number, got {value!r}.")
    return float(value)


def _feature_index(key: Union[int, str], num_features: int) -> int:
    """A sparse feature key (int or decimal str) checked to be in [0, num_features)."""
    try:
        index = int(key)
    except (TypeError, ValueError):
        raise ConfigurationError(f"Sparse feature key {key!r} is not an integer index.")
    if not 0 <= index < num_features:
        raise ConfigurationError(f"Sparse feature index {index} is out of range [0, {num_features}).")
    return index
