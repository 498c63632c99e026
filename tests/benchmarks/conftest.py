import pytest

from tests.util import FIXTURE_CONFIGS, run_allennlp


@pytest.fixture(scope="package")
def debtags_small_run(tmp_path_factory):
    """A serialization directory of the light debtags fixture config trained for its 2 epochs."""
    run = tmp_path_factory.mktemp("debtags_small") / "run"
    run_allennlp("train", FIXTURE_CONFIGS / "debtags_small_light_cross_entropy.jsonnet", "-s", run)
    return run
