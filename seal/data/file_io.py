"""File access and input checks shared by seal's dataset readers: plain or gzipped UTF-8 text (a
byte-order mark is read as the encoding marker it is), and errors that name the file and line."""
import gzip
import os
import zlib
from typing import IO, Iterator, Optional, Tuple

import numpy as np
from allennlp.common.checks import ConfigurationError

GZIP_MAGIC = b"\x1f\x8b"
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


class TextFile:
    """
    The lines of a local UTF-8 text file, gunzipped if it starts with the gzip magic bytes (so a
    file reads the same whatever its name says), a leading byte-order mark dropped.  Use as
    `with open_text(path) as lines: for line in lines: ...`.

    Iterating raises `ConfigurationError` naming the file and the 1-based line where bytes are not
    UTF-8 or where a gzip stream is truncated or damaged (Python raises a bare `UnicodeDecodeError`
    or `EOFError` that name neither).
    """

    def __init__(self, path: str) -> None:
        if os.path.isdir(path):
            raise ConfigurationError(f"{path}: a directory, where a data file was expected")
        self.path = path
        self.gzipped = _is_gzipped(path)
        self._handle: IO[str] = _open(path, self.gzipped, "rt")
        self.lines_read = 0

    def __enter__(self) -> "TextFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._handle.close()

    def __iter__(self) -> Iterator[str]:
        try:
            for line in self._handle:
                self.lines_read += 1
                yield line
        except UnicodeDecodeError as error:
            line_no, column, byte = self._undecodable(error)
            raise line_error(
                self.path, line_no,
                f"not UTF-8 text (byte 0x{byte:02x} at column {column}); seal reads UTF-8 files: convert it, "
                "e.g. with `iconv -f latin1 -t utf-8`",
            ) from None
        except _GZIP_ERRORS as error:
            raise line_error(
                self.path, self.lines_read + 1,
                f"the gzip data is truncated or damaged from here on ({error})",
            ) from None

    def _undecodable(self, error: UnicodeDecodeError) -> Tuple[int, int, int]:
        """(line, 1-based byte column, byte value) of the first bytes that are not UTF-8: text is
        decoded in chunks, so the lines read so far need not reach the bad one; re-read as bytes."""
        try:
            with _open(self.path, self.gzipped, "rb") as raw:
                for line_no, line in enumerate(raw, 1):
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError as found:
                        return line_no, found.start + 1, line[found.start]
        except _GZIP_ERRORS:
            pass
        return self.lines_read + 1, error.start + 1, error.object[error.start]


def open_text(path: str) -> TextFile:
    """The lines of the plain or gzipped UTF-8 text file `path` (see `TextFile`)."""
    return TextFile(path)


def _is_gzipped(path: str) -> bool:
    with open(path, "rb") as probe:
        return probe.read(len(GZIP_MAGIC)) == GZIP_MAGIC


def _open(path: str, gzipped: bool, mode: str) -> IO:
    """`mode` "rt" (UTF-8, a byte-order mark dropped) or "rb", through gzip if `gzipped`."""
    encoding = "utf-8-sig" if mode == "rt" else None
    if gzipped:
        return gzip.open(path, mode, encoding=encoding)
    return open(path, mode, encoding=encoding)


def line_error(path: str, line_no: int, problem: str) -> ConfigurationError:
    """The readers' error for malformed input: names the file, the 1-based line and the problem."""
    return ConfigurationError(f"{path}, line {line_no}: {problem}")


def no_data_error(path: str, what: str) -> ConfigurationError:
    """The error for a data set without instances (training on it would save an untrained model,
    evaluating it would report metrics of nothing): names the path and what it lacks."""
    return ConfigurationError(f"{path}: the data set is empty ({what}); a data set needs at least one instance")


def first_nonfinite(values: np.ndarray) -> Optional[int]:
    """The flat index of the first NaN or infinite value of `values` (a float32 overflow from a
    larger number is infinite too), or None if all are finite."""
    bad = np.flatnonzero(~np.isfinite(values))
    return int(bad[0]) if len(bad) else None
