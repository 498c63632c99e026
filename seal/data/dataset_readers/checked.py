"""The base of seal's dataset readers: the checks every reader makes the same way."""
from typing import Iterable, Iterator, TypeVar

from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance

from seal.data.file_io import no_data_error

_T = TypeVar("_T")


class _NoItems(Exception):
    """A reader's whole (unsharded) data set had no item; `read` turns it into a named error."""


class CheckedDatasetReader(DatasetReader):
    """
    A `DatasetReader` that refuses a missing data path (`train_data_path: null`) and an empty data
    set with a `ConfigurationError` naming the path (AllenNLP would train on nothing, save an
    untrained archive and exit 0, or evaluate nothing).

    Subclasses shard manually, passing their whole stream of items (rows, sentences, words, ...)
    through `shard_iterable`: that stream is the same on every rank and in every data-loader worker,
    so it is where emptiness is judged (one shard may rightly be empty).  `empty_data` says, in
    the reader's terms, what an empty file lacks.
    """

    empty_data = "no instances"

    def read(self, file_path) -> Iterator[Instance]:  # type: ignore[override]
        if file_path is None:
            raise ConfigurationError(
                f"{type(self).__name__} was given no data path (null): set the data path in question "
                "(e.g. 'train_data_path') to a file"
            )
        try:
            yield from super().read(file_path)
        except _NoItems:
            raise no_data_error(str(file_path), self.empty_data) from None

    def shard_iterable(self, iterable: Iterable[_T]) -> Iterator[_T]:
        return super().shard_iterable(_not_empty(iterable))


def _not_empty(iterable: Iterable[_T]) -> Iterator[_T]:
    """The items of `iterable`; raises `_NoItems` once it ends if it had none."""
    empty = True
    for item in iterable:
        empty = False
        yield item
    if empty:
        raise _NoItems()
