"""A dataset reader for CoNLL column files of tagged sentences (NER, chunking, part of speech).

One token per line, columns separated by tabs (if the line has a tab) or else by whitespace, a blank
line between sentences.  Lines whose first column is `-DOCSTART-` (CoNLL-2003 document starts)
separate sentences and are otherwise skipped.  Examples: WNUT-16 (`token<TAB>tag`, BIO),
CoNLL-2003 (`token POS chunk NER`, IOB1) and Brown part of speech (`token<TAB>tag`, plain tags:
`tag_scheme: null`).  Tag schemes: see `seal.data.tag_schemes`.
"""
import itertools
import logging
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import Field, MetadataField, TextField
from allennlp.data.token_indexers import SingleIdTokenIndexer, TokenIndexer
from allennlp.data.tokenizers import Token

from seal.data.dataset_readers.checked import CheckedDatasetReader
from seal.data.fields import SequenceTagsField
from seal.data.file_io import line_error, open_text
from seal.data.tag_schemes import INPUT_SCHEMES, NO_SCHEME, OUTPUT_SCHEMES, convert_tags, tag_problem

logger = logging.getLogger(__name__)

DOCSTART = "-DOCSTART-"

# (1-based line number, raw line) of each line of one sentence.
_Sentence = List[Tuple[int, str]]


@DatasetReader.register("conll-tags")
class ConllTagsDatasetReader(CheckedDatasetReader):
    """
    Reads tagged sentences from a CoNLL column file (plain or gzipped, detected by its magic
    bytes) lazily, one `Instance` per sentence with
    - `"tokens"`: `TextField` of the tokens (indexers set by `apply_token_indexers`, as in
      AllenNLP's own readers),
    - `"tags"`: `SequenceTagsField` of the tags recoded to `coding_scheme` (plain tags as they
      are), in namespace `label_namespace` (only if tags are known); indexing it with a model
      that does not know a tag names the tag and the sentence's file and line,
    - `"metadata"`: `MetadataField({"words": [token strings], "gold_tags": [the recoded tags]})`
      (`"gold_tags"` only if tags are known).

    Illegal tag transitions (e.g. `I-PER` after `O` in BIO) are not errors: such a tag begins a
    new span, as in AllenNLP's `bio_tags_to_spans` and `to_bioul` (see `convert_tags`).  A line
    with too few columns or a tag that is not valid in `tag_scheme` (e.g. `X-PER`, or `PER`
    without prefix) raises `ConfigurationError` naming the file and the 1-based line; so does a
    file without sentences.  A UTF-8 byte-order mark is read as such (see `open_text`).

    # Parameters

    token_indexers : `Dict[str, TokenIndexer]`, optional (default = `{"tokens": SingleIdTokenIndexer()}`)
    token_column : `int`, optional (default = `0`)
        Column of the token; negative values count from the end of the line.
    tag_column : `int`, optional (default = `-1`)
        Column of the tag (the last one by default, e.g. the NER tag of CoNLL-2003).
    tag_scheme : `Optional[str]`, optional (default = `"BIO"`)
        Scheme of the tags in the file: `"BIO"` (= IOB2), `"IOB1"` (CoNLL-2003) or `"BIOUL"`; or
        `None` (`null` in a config) for plain tags without spans (part of speech): any non-empty
        tag is valid and kept verbatim.
    coding_scheme : `Optional[str]`, optional (default = `None`)
        Scheme of the `"tags"` field for a span `tag_scheme`: `"BIOUL"` or `"BIO"`; `None` means
        `"BIOUL"`.  Plain tags are not recoded, so with `tag_scheme` `None` it must stay unset.
    label_namespace : `str`, optional (default = `"labels"`)
    max_tokens : `Optional[int]`, optional (default = `None`)
        Longer sentences are cut to their first `max_tokens` tokens (before recoding, so a span
        cut in the middle ends at the cut); `None` keeps every token.
    **kwargs
        Passed to `DatasetReader` (e.g. `max_instances`); manual sharding is always on.
    """

    empty_data = "no sentences: no token lines"

    def __init__(
        self,
        token_indexers: Dict[str, TokenIndexer] = None,
        token_column: int = 0,
        tag_column: int = -1,
        tag_scheme: Optional[str] = "BIO",
        coding_scheme: Optional[str] = None,
        label_namespace: str = "labels",
        max_tokens: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        kwargs.update(manual_distributed_sharding=True, manual_multiprocess_sharding=True)
        super().__init__(**kwargs)
        coding_scheme = _coding_scheme(tag_scheme, coding_scheme)
        if token_column == tag_column:
            raise ConfigurationError(f"token_column and tag_column are both {token_column}.")
        if max_tokens is not None and max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be positive or None, got {max_tokens}.")
        self._token_indexers = token_indexers or {"tokens": SingleIdTokenIndexer()}
        self._token_column = token_column
        self._tag_column = tag_column
        self._tag_scheme = tag_scheme
        self._coding_scheme = coding_scheme
        self._label_namespace = label_namespace
        self._max_tokens = max_tokens

    def _read(self, file_path: str) -> Iterable[Instance]:
        """One instance per sentence of the file, only the sentences of this shard."""
        path = cached_path(file_path)
        with open_text(path) as text:
            for sentence in self.shard_iterable(_sentences(text)):
                tokens, tags = self._parse_sentence(path, sentence)
                yield self._instance(tokens, tags, f"{path}, line {sentence[0][0]}")

    def text_to_instance(  # type: ignore[override]
        self, tokens: List[Union[str, Token]], tags: Optional[List[str]] = None
    ) -> Instance:
        """
        An instance of `tokens` and, optionally, their `tags` in the reader's `tag_scheme`
        (recoded to `coding_scheme`; cut to `max_tokens` first).  Raises `ConfigurationError` on
        no tokens, a length mismatch or an invalid tag.
        """
        return self._instance(tokens, tags, None)

    def _instance(
        self, tokens: List[Union[str, Token]], tags: Optional[List[str]], source: Optional[str]
    ) -> Instance:
        """`text_to_instance`, with the `source` (file and line) its tags field names in errors."""
        if not tokens:
            raise ConfigurationError("A sentence needs at least one token.")
        if tags is not None and len(tags) != len(tokens):
            raise ConfigurationError(f"{len(tokens)} tokens but {len(tags)} tags.")
        if self._max_tokens is not None:
            tokens = tokens[: self._max_tokens]
            tags = tags[: self._max_tokens] if tags is not None else None
        text_field = TextField([Token(t) if isinstance(t, str) else t for t in tokens])
        metadata: Dict[str, Any] = {"words": [token.text for token in text_field.tokens]}
        fields: Dict[str, Field] = {"tokens": text_field}
        if tags is not None:
            for tag in tags:
                problem = tag_problem(tag, self._tag_scheme)
                if problem:
                    raise ConfigurationError(problem[0].upper() + problem[1:] + ".")
            coded = convert_tags(list(tags), self._tag_scheme, self._coding_scheme)
            fields["tags"] = SequenceTagsField(coded, text_field, self._label_namespace, source)
            metadata["gold_tags"] = coded
        fields["metadata"] = MetadataField(metadata)
        return Instance(fields)

    def apply_token_indexers(self, instance: Instance) -> None:
        instance.fields["tokens"]._token_indexers = self._token_indexers  # type: ignore

    def _parse_sentence(self, path: str, sentence: _Sentence) -> Tuple[List[str], List[str]]:
        """(tokens, tags) of one sentence's lines; errors name the file and line."""
        tokens, tags = [], []
        for line_no, line in sentence:
            columns = _columns(line)
            token_index = _resolve(self._token_column, len(columns))
            tag_index = _resolve(self._tag_column, len(columns))
            if token_index is None or tag_index is None or token_index == tag_index:
                raise line_error(
                    path, line_no,
                    f"expected at least {self._needed_columns()} columns (token_column="
                    f"{self._token_column}, tag_column={self._tag_column}), found {len(columns)}",
                )
            token, tag = columns[token_index], columns[tag_index]
            if not token:
                raise line_error(path, line_no, f"the token (column {token_index}) is empty")
            problem = tag_problem(tag, self._tag_scheme)
            if problem:
                raise line_error(path, line_no, problem)
            tokens.append(token)
            tags.append(tag)
        return tokens, tags

    def _needed_columns(self) -> int:
        """The fewest columns in which token and tag column exist and differ."""
        for count in itertools.count(1):
            token_index = _resolve(self._token_column, count)
            tag_index = _resolve(self._tag_column, count)
            if token_index is not None and tag_index is not None and token_index != tag_index:
                return count
        raise AssertionError("unreachable")


def _coding_scheme(tag_scheme: Optional[str], coding_scheme: Optional[str]) -> Optional[str]:
    """The scheme of the `"tags"` field: `coding_scheme` (default BIOUL) for a span `tag_scheme`,
    `NO_SCHEME` for plain tags; `ConfigurationError` on an unknown scheme or a recoding of plain tags."""
    if tag_scheme is NO_SCHEME:
        if coding_scheme is not None:
            raise ConfigurationError(
                f"conll-tags: coding_scheme {coding_scheme!r} recodes spans, but tag_scheme is null "
                "(plain tags, kept as they are): leave coding_scheme unset."
            )
        return NO_SCHEME
    if tag_scheme not in INPUT_SCHEMES:
        raise ConfigurationError(
            f"Unknown tag_scheme {tag_scheme!r}; expected one of {sorted(INPUT_SCHEMES)}, or null "
            "for plain tags without spans (e.g. part of speech)."
        )
    coding_scheme = "BIOUL" if coding_scheme is None else coding_scheme
    if coding_scheme not in OUTPUT_SCHEMES:
        raise ConfigurationError(
            f"Unknown coding_scheme {coding_scheme!r}; expected one of {list(OUTPUT_SCHEMES)}."
        )
    return coding_scheme


def _sentences(text: IO[str]) -> Iterator[_Sentence]:
    """The (line number, line) lists of the sentences: blank and `-DOCSTART-` lines divide."""
    sentence: _Sentence = []
    for line_no, line in enumerate(text, 1):
        stripped = line.strip()
        if not stripped or stripped.split()[0] == DOCSTART:
            if sentence:
                yield sentence
            sentence = []
        else:
            sentence.append((line_no, line))
    if sentence:
        yield sentence


def _columns(line: str) -> List[str]:
    """The columns of a non-blank line: tab-separated if it has a tab, else whitespace-separated."""
    line = line.strip()
    if "\t" in line:
        return [column.strip() for column in line.split("\t")]
    return line.split()


def _resolve(column: int, count: int) -> Optional[int]:
    """The index of `column` (negative counts from the end) among `count` columns, or None."""
    index = column if column >= 0 else count + column
    return index if 0 <= index < count else None
