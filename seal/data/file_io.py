"""File access shared by seal's dataset readers: plain or gzipped text, and errors that name a line."""
import gzip
from typing import IO

from allennlp.common.checks import ConfigurationError

GZIP_MAGIC = b"\x1f\x8b"


def open_text(path: str) -> IO[str]:
    """Opens a local UTF-8 text file for reading, gunzipping it if it starts with the gzip magic
    bytes, so that a file reads the same whatever its name says (`train.conll` or `train.conll.gz`)."""
    with open(path, "rb") as probe:
        magic = probe.read(len(GZIP_MAGIC))
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def line_error(path: str, line_no: int, problem: str) -> ConfigurationError:
    """The readers' error for malformed input: names the file, the 1-based line and the problem."""
    return ConfigurationError(f"{path}, line {line_no}: {problem}")
