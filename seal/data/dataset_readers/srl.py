import os
from typing import Iterable, List, Optional, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.data.dataset_readers import DatasetReader
from allennlp_models.common.ontonotes import Ontonotes
from allennlp_models.structured_prediction.dataset_readers.srl import SrlReader

# word id, part, word number, word, POS, parse bit, lemma, frameset, sense, speaker, entities, coref
_MIN_COLUMNS = 12
_FIRST_ARGUMENT_COLUMN = 11


@DatasetReader.register("conll2012-srl")
class Conll2012SrlReader(SrlReader):
    """AllenNLP-models' `srl` reader (one instance per predicate of each sentence, one all-`O`
    instance per sentence without predicate; fields `tokens`, `verb_indicator`, `tags` in BIO with
    `B-V` at the predicate, `metadata` with `words`, `verb`, `verb_index`, `gold_tags`), which first
    checks the CoNLL-2012 `.gold_conll` files it is given.

    `file_path` is a `.gold_conll` file or a directory searched recursively for them.  A missing
    path, a directory without such files, a token line with fewer than 12 columns or with a
    different number of columns than its sentence, and a predicate column whose brackets do not
    balance or that has no `(V*)` raise `ConfigurationError` naming the file and the 1-based line
    (the upstream reader would raise a bare error deep inside, or silently read a wrong frame).

    Parameters as `SrlReader`'s (`token_indexers`, `domain_identifier`, `bert_model_name`).
    """

    @staticmethod
    def _ontonotes_subset(ontonotes_reader: Ontonotes, file_path: str, domain_identifier: Optional[str]) -> Iterable:
        """The sentences of the checked files (all are checked before the first is read)."""
        files = gold_conll_files(file_path)
        for conll_file in files:
            check_gold_conll(conll_file)
        for conll_file in files:
            if domain_identifier is None or f"/{domain_identifier}/" in conll_file:
                yield from ontonotes_reader.sentence_iterator(conll_file)


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


def check_gold_conll(conll_file: str) -> None:
    """Raises `ConfigurationError` (file and line) on the first malformed sentence of the file."""
    with open(conll_file, encoding="utf-8") as handle:
        sentence: List[Tuple[int, List[str]]] = []
        for number, line in enumerate(handle, start=1):
            stripped = line.strip()
            if stripped.startswith("#"):
                continue
            if stripped:
                sentence.append((number, stripped.split()))
            elif sentence:
                _check_sentence(conll_file, sentence)
                sentence = []
        if sentence:
            _check_sentence(conll_file, sentence)


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
