"""Tiny archives for the bad-input suite, each trained in-process once per test session (one epoch
of cross-entropy on a fixture config: the inputs are bad, the models need not be good)."""
from pathlib import Path
from typing import Callable, Dict

import pytest

import seal  # noqa: F401  (registers seal's components, as --include-package does)
from tests.util import FIXTURE_CONFIGS, train_in_process

BAD = Path(__file__).resolve().parents[2] / "fixtures" / "bad_input"
ONE_EPOCH = {"trainer.num_epochs": 1, "evaluate_on_test": False}


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> Callable[[str], Path]:
    """`archive(config)`: model.tar.gz of fixtures/configs/<config>.jsonnet, trained on first use."""
    archives: Dict[str, Path] = {}

    def trained(config: str) -> Path:
        if config not in archives:
            serialization_dir = tmp_path_factory.mktemp("bad_input") / config
            train_in_process(FIXTURE_CONFIGS / f"{config}.jsonnet", serialization_dir, ONE_EPOCH)
            archives[config] = serialization_dir / "model.tar.gz"
        return archives[config]

    return trained
