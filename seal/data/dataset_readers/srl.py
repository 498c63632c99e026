import os
from typing import Iterable, Iterator, List, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.data import Instance
from allennlp.data.dataset_readers import DatasetReader
from allennlp.data.tokenizers import Token
from allennlp_models.common.ontonotes import Ontonotes, OntonotesSentence
from allennlp_models.structured_prediction.dataset_readers.srl import SrlReader

from seal.data.dataset_readers.checked import CheckedDatasetReader
from seal.data.fields import SequenceTagsField
from seal.data.file_io import open_text

# word id, part, word number, word, POS, parse bit, lemma, frameset, sense, speaker, entities, coref
_MIN_COLUMNS = 12
_FIRST_ARGUMENT_COLUMN = 11

# (1-based line number, stripped line) of each token line of one sentence.
_Rows = List[Tuple[int, str]]


@DatasetReader.register("conll2012-srl")
class Conll2012SrlReader(SrlReader, CheckedDatasetReader):
    """AllenNLP-models' `srl` reader (one instance per predicate of each sentence, one all-`O`
    instance per sentence without predicate; fields `tokens`, `verb_indicator`, `tags` in BIO with
    `B-V` at the predicate, `metadata` with `words`, `verb`, `verb_index`, `gold_tags`), which first
    checks the CoNLL-2012 `.gold_conll` files it is given.

    `file_path` is a `.gold_conll` file (plain or gzipped, UTF-8 with or without a byte-order mark)
    or a directory searched recursively for them.  A missing path, a directory without such files
    or without sentences, a token line with fewer than 12 columns or with a different number of
    columns than its sentence, and a predicate column whose brackets do not balance or that has no
    `(V*)` raise `ConfigurationError` naming the file and the 1-based line (the upstream reader
    would raise a bare error deep inside, or silently read a wrong frame).  The `tags` field is a
    `SequenceTagsField`: a tag the indexing model does not know names its file and line.

    Parameters as `SrlReader`'s (`token_indexers`, `domain_identifier`, `bert_model_name`);
    sentences are sharded manually.
    """

    empty_data = "no sentences in its .gold_conll files"

    def __init__(self, **kwargs) -> None:
        kwargs.update(manual_distributed_sharding=True, manual_multiprocess_sharding=True)
        super().__init__(**kwargs)

    def _read(self, file_path: str) -> Iterable[Instance]:
        """The instances of the checked files (all are checked before the first is read), only the
        sentences of this shard; the sentences are parsed as allennlp-models' `Ontonotes` does."""
        files = gold_conll_files(cached_path(file_path))
        for conll_file in files:
            check_gold_conll(conll_file)
        domain = self._domain_identifier
        sentences = (
            (conll_file, rows)
            for conll_file in files
            if domain is None or f"/{domain}/" in conll_file
            for rows in _sentence_rows(conll_file)
        )
        ontonotes = Ontonotes()
        for conll_file, rows in self.shard_iterable(sentences):
            sentence = ontonotes._conll_rows_to_sentence([line for _, line in rows])
            for instance in self._sentence_instances(sentence):
                if "tags" in instance.fields:
                    instance.fields["tags"] = _named_tags(instance["tags"], f"{conll_file}, line {rows[0][0]}")
                yield instance

    def _sentence_instances(self, sentence: OntonotesSentence) -> Iterator[Instance]:
        """One instance per predicate frame, or one all-`O` instance without predicate (as upstream)."""
        tokens = [Token(word) for word in sentence.words]
        if not sentence.srl_frames:
            yield self.text_to_instance(tokens, [0] * len(tokens), ["O"] * len(tokens))
        for _, tags in sentence.srl_frames:
            yield self.text_to_instance(tokens, [1 if tag[-2:] == "-V" else 0 for tag in tags], tags)


def _named_tags(field, source: str) -> SequenceTagsField:
    """The upstream `tags` field as a `SequenceTagsField` naming `source` when a tag is unknown."""
    return SequenceTagsField(field.labels, field.sequence_field, field._label_namespace, source)


def gold_conll_files(path: str) -> List[str]:
    """`path` itself if it is a file, else the `*gold_conll` files under it, sorted."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ConfigurationError(f"SRL data path {path!r} does not exist")
    files = sorted(
        os.path.join(root, name) for root, _, names in os.walk(path) for name in names if name.endswith("gold_conll")
    )
    if not files:
        raise ConfigurationError(f"no *.gold_conll files under {path!r} (CoNLL-2012 SRL data expected)")
    return files


def _sentence_rows(conll_file: str) -> Iterator[_Rows]:
    """The token lines of each sentence; blank lines and `#` lines (`#begin document ...`) end one."""
    rows: _Rows = []
    with open_text(conll_file) as lines:
        for number, line in enumerate(lines, start=1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                rows.append((number, stripped))
            elif rows:
                yield rows
                rows = []
    if rows:
        yield rows


def check_gold_conll(conll_file: str) -> None:
    """Raises `ConfigurationError` (file and line) on the first malformed sentence of the file."""
    for rows in _sentence_rows(conll_file):
        _check_sentence(conll_file, [(number, line.split()) for number, line in rows])


def _check_sentence(conll_file: str, rows: List[Tuple[int, List[str]]]) -> None:
    first_line, first = rows[0]
    for number, columns in rows:
        if len(columns) < _MIN_COLUMNS:
            raise ConfigurationError(
                f"{conll_file}, line {number}: {len(columns)} columns; a CoNLL-2012 token line has at "
                f"least {_MIN_COLUMNS} (word id, part, word number, word, POS, parse, lemma, frameset, "
                "sense, speaker, entities, one per predicate, coreference)"
            )
        if len(columns) != len(first):
            raise ConfigurationError(
                f"{conll_file}, line {number}: {len(columns)} columns, but the sentence starting at line "
                f"{first_line} has {len(first)}"
            )
    for column in range(_FIRST_ARGUMENT_COLUMN, len(first) - 1):
        _check_argument_column(conll_file, [(number, columns[column]) for number, columns in rows], column)


def _check_argument_column(conll_file: str, cells: List[Tuple[int, str]], column: int) -> None:
    open_label, has_predicate = None, False
    for number, cell in cells:
        if cell.count("(") > 1 or cell.count(")") > 1 or (cell.strip("()*") and "(" not in cell):
            raise ConfigurationError(
                f"{conll_file}, line {number}, column {column + 1}: malformed argument cell {cell!r}"
            )
        if "(" in cell:
            if open_label is not None:
                raise ConfigurationError(
                    f"{conll_file}, line {number}, column {column + 1}: {cell!r} opens a span while "
                    f"({open_label} (opened earlier) is still open"
                )
            open_label = cell[cell.index("(") + 1 : cell.index("*")]
            has_predicate = has_predicate or open_label == "V"
        if ")" in cell:
            if open_label is None:
                raise ConfigurationError(
                    f"{conll_file}, line {number}, column {column + 1}: {cell!r} closes no open span"
                )
            open_label = None
    last_line = cells[-1][0]
    if open_label is not None:
        raise ConfigurationError(
            f"{conll_file}, line {last_line}, column {column + 1}: the sentence ends with ({open_label} still open"
        )
    if not has_predicate:
        raise ConfigurationError(
            f"{conll_file}, line {last_line}, column {column + 1}: a predicate column without (V*)"
        )
