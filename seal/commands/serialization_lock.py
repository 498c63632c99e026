"""One training run at a time per serialization directory.

A second `allennlp train` on a directory that a run is still writing to mixes the two runs: `-f`
deletes the first run's files while it writes, `--recover` trains on from its checkpoints beside
it, and the archive ends with one run's config and metrics and the other's weights.  Importing `seal`
(which `--include-package seal` does before the command runs) wraps AllenNLP's `train_model` (behind
`allennlp train`, `train_model_from_file` and `train_model_from_args`): a run holds an exclusive
`flock` on its serialization directory from before anything in it is deleted or written until it
returns, and the operating system releases the lock when the process ends, however it ends.  A run
on a locked directory, with or without `-f` or `--recover`, stops with `SerializationDirectoryInUse`
(a `ConfigurationError`) before touching anything.

The lock is on the directory itself, not on a file in it, so nothing is left behind.  Under `-f` the
directory's contents are deleted while it is locked, and AllenNLP then finds it empty (AllenNLP would
delete and recreate the directory, and the lock with it).  Why not in the trainer: AllenNLP deletes the
directory for `-f` and writes `config.json` before it builds a trainer; the wrapper is the earliest
point a plugin controls.  Not locked (a warning says so): file systems without `flock` on
directories (NFS) and platforms without `fcntl` (Windows); nor runs of processes that never import
seal.
"""
import contextlib
import functools
import inspect
import logging
import os
import shutil
from typing import Callable, Iterator, List, Set, Union

from allennlp.common.checks import ConfigurationError

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
_HELD: Set[int] = set()  # the descriptors of the locks this process holds


class SerializationDirectoryInUse(ConfigurationError):
    """Another process holds the lock of the serialization directory."""


@contextlib.contextmanager
def serialization_directory_lock(directory: PathLike) -> Iterator[None]:
    """Holds an exclusive lock on `directory` (created if missing) for the body; raises
    `SerializationDirectoryInUse` at once if another process, or another open lock in this one,
    holds it.  Processes forked inside the body do not hold it."""
    os.makedirs(directory, exist_ok=True)
    if fcntl is None:
        logger.warning("Cannot lock %s on this platform: another run could write to it at the same time", directory)
        yield
        return
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        held = _lock(descriptor, directory)
    except SerializationDirectoryInUse:
        os.close(descriptor)
        raise
    if not held:
        os.close(descriptor)
        yield
        return
    _HELD.add(descriptor)
    try:
        yield
    finally:
        _HELD.discard(descriptor)
        os.close(descriptor)  # releases the lock


def _lock(descriptor: int, directory: PathLike) -> bool:
    """Whether `directory` (open as `descriptor`) is now locked; False (with a warning) where its
    file system cannot lock it."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SerializationDirectoryInUse(_in_use_message(directory)) from None
    except OSError as error:
        logger.warning("Cannot lock %s (%s): another run could write to it at the same time", directory, error)
        return False
    return True


def _in_use_message(directory: PathLike) -> str:
    holders = _lock_holders(directory)
    by = f"process {', '.join(map(str, holders))}" if holders else "another process"
    return (f"Serialization directory {directory} is in use by another training run ({by} holds its lock). "
            "Wait for that run to end, or stop it, before training there again (-f and --recover included), "
            "or choose another directory.")


def _lock_holders(directory: PathLike) -> List[int]:
    """Process ids holding a `flock` on `directory`, from Linux's /proc/locks (empty elsewhere)."""
    status = os.stat(directory)
    key = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    try:
        with open("/proc/locks") as locks:
            rows = [line.split() for line in locks]
    except OSError:
        return []
    return sorted({int(row[4]) for row in rows if len(row) > 5 and row[1] == "FLOCK" and row[5] == key})


def _close_inherited_locks() -> None:
    """In a forked child: closing its copies of the descriptors leaves the parent's locks held, and
    the child's lifetime no longer extends them."""
    for descriptor in list(_HELD):
        os.close(descriptor)
    _HELD.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_close_inherited_locks)


def _empty(directory: PathLike) -> None:
    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.remove(entry.path)


def locked(train_model: Callable) -> Callable:
    """`train_model` (AllenNLP's signature) run under the lock of its serialization directory, with
    `force` carried out under the lock.  Calls that AllenNLP refuses before touching the directory
    (`recover` with `force`, or without a directory) go to it unlocked, for its own error."""
    signature = inspect.signature(train_model)

    @functools.wraps(train_model)
    def train_model_locked(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        directory, recover, force = (call.arguments[name] for name in ("serialization_dir", "recover", "force"))
        if recover and (force or not os.path.isdir(directory)):
            return train_model(*args, **kwargs)
        with serialization_directory_lock(directory):
            if force:
                _empty(directory)
                call.arguments["force"] = False
            return train_model(*call.args, **call.kwargs)

    train_model_locked.seal_locked = True
    return train_model_locked


def install() -> None:
    """Wraps `allennlp.commands.train.train_model` (once)."""
    from allennlp.commands import train

    if not getattr(train.train_model, "seal_locked", False):
        train.train_model = locked(train.train_model)
