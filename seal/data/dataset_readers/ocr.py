"""A dataset reader for Taskar et al.'s handwritten-word OCR data (`letter.data`).

One letter per line, tab-separated: `id, letter, next_id, word_id, position, fold, p_0 ... p_127`,
where `next_id` is the id of the word's next letter (-1 on its last letter), `position` is 1-based,
`fold` is 0-9 and the 128 pixels (0/1) are a 16x8 image in row-major order.
"""
import logging
import re
from dataclasses import dataclass
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import ArrayField, Field, ListField, MetadataField

from seal.data.dataset_readers.checked import CheckedDatasetReader
from seal.data.fields import SequenceTagsField
from seal.data.file_io import first_nonfinite, line_error, open_text

logger = logging.getLogger(__name__)

IMAGE_SHAPE = (16, 8)
NUM_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
NUM_COLUMNS = 6 + NUM_PIXELS
NUM_FOLDS = 10
LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
FOLDS_SUFFIX = "@folds="
_FOLD_ITEM = re.compile(r"^(\d+)(?:-(\d+))?$")
_INTEGER_COLUMNS = ("id", "next_id", "word_id", "position", "fold")


@dataclass
class _Letter:
    """The first six columns of one line; the pixels stay unparsed until the word is read."""

    line_no: int
    id: int
    letter: str
    next_id: int
    word_id: int
    position: int
    fold: int
    pixels: List[str]


def parse_folds(spec: str) -> List[int]:
    """`"2,3,4"` or `"2-9"` or `"0,2-4"` -> sorted distinct folds, each in 0-9."""
    folds: Set[int] = set()
    for item in spec.split(","):
        match = _FOLD_ITEM.match(item.strip())
        if not match:
            raise ConfigurationError(
                f"Bad fold selection {spec!r}: expected comma-separated folds or ranges such as "
                "'2,3,4' or '2-9'."
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ConfigurationError(f"Bad fold selection {spec!r}: empty range {item.strip()!r}.")
        folds.update(range(first, last + 1))
    _check_folds(sorted(folds), f"fold selection {spec!r}")
    return sorted(folds)


def _check_folds(folds: Sequence[int], where: str) -> None:
    if not folds:
        raise ConfigurationError(f"The {where} selects no fold.")
    outside = [fold for fold in folds if not 0 <= fold < NUM_FOLDS]
    if outside:
        raise ConfigurationError(f"The {where} has folds {outside} outside 0-{NUM_FOLDS - 1}.")


def split_folds_suffix(file_path: str) -> Tuple[str, Optional[List[int]]]:
    """`"letter.data@folds=2-9"` -> `("letter.data", [2, ..., 9])`; no suffix -> `(path, None)`."""
    path, separator, spec = str(file_path).rpartition(FOLDS_SUFFIX)
    if not separator:
        return str(file_path), None
    return path, parse_folds(spec)


@DatasetReader.register("ocr-letters")
class OcrLettersDatasetReader(CheckedDatasetReader):
    """
    Reads Taskar's `letter.data` (plain or gzipped, detected by its magic bytes) lazily, one
    `Instance` per word with
    - `"images"`: `ListField` of `ArrayField`s, one float32 tensor of shape `(16, 8)` per letter
      (batched: `(batch, max_letters, 16, 8)`, padded with 0),
    - `"labels"`: `SequenceTagsField` of the letters (`"a"`-`"z"`) over `"images"`, in namespace
      `label_namespace` (only if the letters are known; a letter the indexing model does not
      know is an error naming the word's file and line),
    - `"letter_mask"`: `ArrayField` of `torch.bool` ones of shape `(num_letters,)`, padding value
      0 (batched: a `(batch, max_letters)` bool mask),
    - `"metadata"`: `MetadataField({"word_id": int, "fold": int, "letters": [str]})` (`None` for
      values `text_to_instance` was not given).

    Which folds are read: a suffix of the path, `letter.data@folds=2,3,4` or
    `letter.data@folds=2-9`, so one file serves train, dev and test in a config; otherwise the
    `folds` argument; otherwise all folds.  The path suffix wins over `folds`.

    Every line is checked (134 columns, integer ids, fold 0-9, letter a-z, pixels 0/1) and so is
    every word (its lines are consecutive with positions 1, 2, ..., each `next_id` is the `id` of
    the next line, the last is -1, one word_id and fold throughout, no word_id twice); a violation
    raises `ConfigurationError` naming the file and the 1-based line.  Pixels are checked only for
    the selected words of this shard.  A file or fold selection without words is an error too.

    # Parameters

    folds : `Optional[List[int]]`, optional (default = `None`)
        Folds to keep (0-9); `None` keeps all.  The project's protocol: test 0, dev 1, train 2-9.
    label_namespace : `str`, optional (default = `"labels"`)
    **kwargs
        Passed to `DatasetReader` (e.g. `max_instances`); manual sharding is always on.
    """

    empty_data = "no words of the selected folds"

    def __init__(
        self, folds: Optional[List[int]] = None, label_namespace: str = "labels", **kwargs: Any
    ) -> None:
        kwargs.update(manual_distributed_sharding=True, manual_multiprocess_sharding=True)
        super().__init__(**kwargs)
        if folds is not None:
            _check_folds(list(folds), "'folds' argument")
        self._folds = sorted(set(folds)) if folds is not None else None
        self._label_namespace = label_namespace

    def _read(self, file_path: str) -> Iterable[Instance]:
        """One instance per word of the selected folds, only the words of this shard."""
        path, suffix_folds = split_folds_suffix(file_path)
        folds = suffix_folds if suffix_folds is not None else self._folds
        path = cached_path(path)
        with open_text(path) as text:
            words = _words(path, text)
            if folds is not None:
                selected = set(folds)
                words = (word for word in words if word[0].fold in selected)
            for word in self.shard_iterable(words):
                images = [_pixels(path, letter) for letter in word]
                instance = self.text_to_instance(
                    images, [letter.letter for letter in word],
                    word_id=word[0].word_id, fold=word[0].fold,
                )
                instance["labels"].source = f"{path}, line {word[0].line_no}"
                yield instance

    def text_to_instance(  # type: ignore[override]
        self,
        images: Sequence[Union[Sequence[float], Sequence[Sequence[float]], np.ndarray, torch.Tensor]],
        letters: Optional[List[str]] = None,
        *,
        word_id: Optional[int] = None,
        fold: Optional[int] = None,
    ) -> Instance:
        """
        An instance of one word: `images` has one image per letter, 128 values (row-major) or
        16x8; `letters` (optional) one letter a-z per image; `word_id` and `fold` only go to the
        metadata.  Raises `ConfigurationError` on no images, a bad shape, a pixel that is not a
        finite number, or bad letters.
        """
        if len(images) == 0:
            raise ConfigurationError("A word needs at least one letter image.")
        arrays = [_image(image, index) for index, image in enumerate(images)]
        image_field = ListField([ArrayField(array) for array in arrays])
        fields: Dict[str, Field] = {
            "images": image_field,
            "letter_mask": ArrayField(torch.ones(len(arrays), dtype=torch.bool), padding_value=0),
        }
        if letters is not None:
            letters = list(letters)
            if len(letters) != len(arrays):
                raise ConfigurationError(f"{len(arrays)} images but {len(letters)} letters.")
            bad = [letter for letter in letters if letter not in LETTERS]
            if bad:
                raise ConfigurationError(f"Letters {bad} are not single letters a-z.")
            fields["labels"] = SequenceTagsField(letters, image_field, self._label_namespace)
        fields["metadata"] = MetadataField({"word_id": word_id, "fold": fold, "letters": letters})
        return Instance(fields)


def _image(image: Any, index: int) -> np.ndarray:
    """One image as a finite float32 array of shape (16, 8)."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    try:
        array = np.asarray(image, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ConfigurationError(f"Image {index} is not numeric: {error}")
    if array.shape not in ((NUM_PIXELS,), IMAGE_SHAPE):
        raise ConfigurationError(
            f"Image {index} has shape {array.shape}; expected ({NUM_PIXELS},) or {IMAGE_SHAPE}."
        )
    bad = first_nonfinite(array)
    if bad is not None:
        raise ConfigurationError(
            f"Image {index}, pixel {bad} (row-major) is {array.flat[bad]}: pixels must be finite numbers."
        )
    return array.reshape(IMAGE_SHAPE)


# ------------------------------------------------------------------------------------- parsing


def _words(path: str, text: IO[str]) -> Iterator[List[_Letter]]:
    """The checked words of the file in order (blank lines are skipped)."""
    word: List[_Letter] = []
    ended: Dict[int, int] = {}  # word_id -> line of its last letter
    last_line = 0
    for line_no, line in enumerate(text, 1):
        columns = line.split()
        if not columns:
            continue
        last_line = line_no
        letter = _letter(path, line_no, columns)
        if word:
            _check_continues(path, word[-1], letter)
        else:
            _check_starts(path, letter, ended)
        word.append(letter)
        if letter.next_id == -1:
            ended[letter.word_id] = line_no
            yield word
            word = []
    if word:
        raise line_error(
            path, last_line,
            f"the file ends inside word {word[-1].word_id}: its last letter has next_id "
            f"{word[-1].next_id}, not -1",
        )


def _letter(path: str, line_no: int, columns: List[str]) -> _Letter:
    """The first six columns of a line, checked; the pixels are kept as strings."""
    if len(columns) != NUM_COLUMNS:
        raise line_error(
            path, line_no,
            f"expected {NUM_COLUMNS} tab-separated columns (6 + {NUM_PIXELS} pixels), "
            f"found {len(columns)}",
        )
    values = {}
    for name, token in zip(_INTEGER_COLUMNS, [columns[0]] + columns[2:6]):
        try:
            values[name] = int(token)
        except ValueError:
            raise line_error(path, line_no, f"{name} {token!r} is not an integer")
    if not 0 <= values["fold"] < NUM_FOLDS:
        raise line_error(path, line_no, f"fold {values['fold']} is outside 0-{NUM_FOLDS - 1}")
    if columns[1] not in LETTERS:
        raise line_error(path, line_no, f"letter {columns[1]!r} is not a single letter a-z")
    return _Letter(line_no=line_no, letter=columns[1], pixels=columns[6:], **values)


def _check_starts(path: str, letter: _Letter, ended: Dict[int, int]) -> None:
    """The first letter of a word: position 1, a word_id not seen before."""
    if letter.word_id in ended:
        raise line_error(
            path, letter.line_no,
            f"word {letter.word_id} is not contiguous: it already ended on line "
            f"{ended[letter.word_id]}",
        )
    if letter.position != 1:
        raise line_error(
            path, letter.line_no,
            f"word {letter.word_id} starts at position {letter.position}, expected 1",
        )


def _check_continues(path: str, previous: _Letter, letter: _Letter) -> None:
    """A letter after `previous` of an unfinished word: same word and fold, the chain goes on."""
    if letter.word_id != previous.word_id:
        raise line_error(
            path, letter.line_no,
            f"word {previous.word_id} is unfinished (line {previous.line_no} has next_id "
            f"{previous.next_id}, not -1) but this line belongs to word {letter.word_id}",
        )
    if letter.id != previous.next_id:
        raise line_error(
            path, letter.line_no,
            f"broken chain in word {letter.word_id}: line {previous.line_no} has next_id "
            f"{previous.next_id} but this line has id {letter.id}",
        )
    if letter.position != previous.position + 1:
        raise line_error(
            path, letter.line_no,
            f"word {letter.word_id} has position {letter.position} after {previous.position}",
        )
    if letter.fold != previous.fold:
        raise line_error(
            path, letter.line_no,
            f"word {letter.word_id} changes fold from {previous.fold} to {letter.fold}",
        )


def _pixels(path: str, letter: _Letter) -> np.ndarray:
    """The letter's 128 pixels (each "0" or "1") as a float32 (16, 8) image."""
    pixels = np.array(letter.pixels)
    is_one = pixels == "1"
    bad = np.flatnonzero(~is_one & (pixels != "0"))
    if len(bad):
        raise line_error(
            path, letter.line_no,
            f"pixel {bad[0]} (column {bad[0] + 7}) is {letter.pixels[bad[0]]!r}, not 0 or 1",
        )
    return is_one.astype(np.float32).reshape(IMAGE_SHAPE)
