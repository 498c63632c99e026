"""Helpers shared by the end-to-end and training tests: the repository's paths, running the
`allennlp` command, and keeping in-process training from taking over the test run's logging."""
import atexit
import contextlib
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Union

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURE_CONFIGS = REPO_ROOT / "fixtures" / "configs"
SCENE_SMALL = REPO_ROOT / "fixtures" / "arff" / "scene_small"
SEAL_CONFIG = FIXTURE_CONFIGS / "scene_small_seal_dynamic_nce.jsonnet"
CROSS_ENTROPY_CONFIG = FIXTURE_CONFIGS / "scene_small_cross_entropy.jsonnet"
# The `allennlp` command next to the interpreter running the tests, else the project's virtualenv's.
ALLENNLP = Path(sys.executable).parent / "allennlp"
if not ALLENNLP.exists():
    ALLENNLP = REPO_ROOT / ".venv" / "bin" / "allennlp"

SCENE_LABELS = ("Beach", "Sunset", "FallFoliage", "Field", "Mountain", "Urban")
SCENE_NUM_FEATURES = 294


def configured_num_steps(config: Path = SEAL_CONFIG) -> Dict[str, int]:
    """The optimizer steps per batch of each module that `config`'s trainer takes."""
    from allennlp.common import Params

    num_steps = Params.from_file(str(config)).as_dict()["trainer"].get("num_steps", {})
    return {module: num_steps.get(module, 1) for module in ("score_nn", "task_nn")}


# Only guards against a hung `allennlp` subprocess: a fixture run takes a minute or two alone, but
# more than 600 s was seen on 2 cores shared with a dozen training jobs.
HANG_GUARD_SECONDS = 1800


def run_allennlp(
    *args: Union[str, Path], timeout: float = HANG_GUARD_SECONDS, env: Optional[Dict[str, str]] = None
) -> subprocess.CompletedProcess:
    """Runs `allennlp ARGS --include-package seal` in the repository root (the configs' data paths
    are relative to it), with `env` added to the environment (jsonnet's external variables), and
    fails with the end of its output unless it exits with 0."""
    command = [str(ALLENNLP), *map(str, args), "--include-package", "seal"]
    environment = {**os.environ, **(env or {})}
    process = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=environment)
    if process.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited with {process.returncode}\n"
            f"--- stdout (end) ---\n{process.stdout[-3000:]}\n--- stderr (end) ---\n{process.stderr[-6000:]}"
        )
    return process


def read_json(path: Union[str, Path]) -> Any:
    with open(path) as file:
        return json.load(file)


def read_json_lines(path: Union[str, Path]) -> List[Any]:
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


@contextlib.contextmanager
def repo_root_cwd() -> Iterator[None]:
    """Runs the body in the repository root, where the configs' relative data paths resolve."""
    previous = os.getcwd()
    os.chdir(REPO_ROOT)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def isolated_logging() -> Iterator[None]:
    """In-process `train_model` replaces the root logger's handlers with its own (a file in the
    serialization directory, stdout, stderr) and hooks `sys.excepthook`; this undoes both."""
    watched = [logging.getLogger(), logging.getLogger("allennlp.common.tqdm")]
    saved = [(logger, list(logger.handlers), logger.level, logger.propagate) for logger in watched]
    excepthook = sys.excepthook
    try:
        yield
    finally:
        sys.excepthook = excepthook
        for logger, handlers, level, propagate in saved:
            for handler in logger.handlers:
                if handler not in handlers:
                    handler.close()
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate


def train_in_process(config: Path, serialization_dir: Path, overrides: Dict[str, Any], **kwargs):
    """`allennlp train` through its Python API, from the repository root, with the test run's
    logging left intact.  Returns what `train_model_from_file` returns."""
    from allennlp.commands.train import train_model_from_file

    with repo_root_cwd(), isolated_logging():
        return train_model_from_file(
            str(config), str(serialization_dir), overrides=json.dumps(overrides), **kwargs
        )


def evaluate_in_process(archive: Path, input_file: Path, output_file: Path) -> Dict[str, Any]:
    """`allennlp evaluate ARCHIVE INPUT --output-file OUTPUT` through its Python API, from the
    repository root, with the test run's logging left intact.  Returns the metrics."""
    from allennlp.commands.evaluate import evaluate_from_archive

    with repo_root_cwd(), isolated_logging():
        return evaluate_from_archive(str(archive), str(input_file), metrics_output_file=str(output_file))


@functools.lru_cache(maxsize=None)
def recorded_runs() -> Path:
    """The two real run records of fixtures/benchmarks/run_dirs.tar.gz (config.json, metrics.json
    and every epoch's metrics of two debtags light runs), unpacked once per test process into a
    temporary directory; returns the directory that holds one folder per run."""
    destination = Path(tempfile.mkdtemp(prefix="seal_recorded_runs_"))
    atexit.register(shutil.rmtree, destination, ignore_errors=True)
    with tarfile.open(REPO_ROOT / "fixtures" / "benchmarks" / "run_dirs.tar.gz") as archive:
        archive.extractall(destination, filter="data")
    return destination / "run_dirs"
