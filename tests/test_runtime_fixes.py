"""Each runtime fix in `seal_runtime_fixes` against the failure it prevents.

Every check runs in a fresh interpreter (allennlp modules are patched once, at first import): once
with the import hook removed, where the failure must appear, and once with it, where it must not.
"""
import os
import subprocess
import sys
import textwrap

import pytest

import seal_runtime_fixes


def run_python(code: str, disable: str = "") -> subprocess.CompletedProcess:
    """Runs `code` in a new interpreter with the fix named `disable` switched off."""
    env = dict(os.environ, **{seal_runtime_fixes.DISABLE_VARIABLE: disable})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300, env=env)


def assert_needs_fix(code: str, fix: str, failure: str) -> None:
    """`code` fails (with `failure` in stderr) when the fix named `fix` is off, and runs with it on."""
    broken = run_python(code, disable=fix)
    assert broken.returncode != 0 and failure in broken.stderr
    fixed = run_python(code)
    assert fixed.returncode == 0, fixed.stderr


def test_the_pth_file_installs_the_hook_at_interpreter_start():
    assert seal_runtime_fixes.installed()
    result = run_python("import seal_runtime_fixes; assert seal_runtime_fixes.installed()")
    assert result.returncode == 0, result.stderr


VISION_IMPORT = (
    "import allennlp.data.image_loader, allennlp.modules.vision.grid_embedder, "
    "allennlp.modules.vision.region_detector\n"
)


def test_vision_modules_need_the_torchvision_stand_in():
    broken = run_python(VISION_IMPORT, disable="torchvision-stand-in")
    assert broken.returncode != 0 and "torchvision" in broken.stderr
    fixed = run_python(VISION_IMPORT + textwrap.dedent("""
        import importlib.util, sys
        assert importlib.util.find_spec("torchvision") is None, "the stand-in must not stay visible"
        assert "torchvision" not in sys.modules
    """))
    assert fixed.returncode == 0, fixed.stderr


OPTIMIZERS_IMPORT = """
import torch
from allennlp.training.optimizers import Optimizer
from allennlp.common import Params
optimizer = Optimizer.from_params(model_parameters=[("w", torch.nn.Parameter(torch.ones(2)))],
                                  params=Params({"type": "huggingface_adamw", "lr": 0.1}))
assert isinstance(optimizer, torch.optim.AdamW)
"""


def test_allennlp_optimizers_need_transformers_adamw():
    assert_needs_fix(OPTIMIZERS_IMPORT, "transformers-adamw", "AdamW")


def test_the_adamw_stand_in_refuses_to_skip_bias_correction():
    result = run_python(OPTIMIZERS_IMPORT + textwrap.dedent("""
        import transformers
        try:
            transformers.AdamW([torch.nn.Parameter(torch.ones(1))], correct_bias=False)
        except ValueError:
            pass
        else:
            raise SystemExit("correct_bias=False was silently accepted")
    """))
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def tiny_tokenizer_dir(tmp_path_factory):
    """A WordPiece tokenizer saved to disk (no download)."""
    directory = tmp_path_factory.mktemp("tokenizer")
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "hello", "world"]
    (directory / "vocab.txt").write_text("\n".join(vocabulary))
    from transformers import BertTokenizer

    BertTokenizer(str(directory / "vocab.txt")).save_pretrained(str(directory))
    return directory


def test_get_tokenizer_drops_add_special_tokens(tiny_tokenizer_dir):
    code = f"""
        from allennlp.data.tokenizers import PretrainedTransformerTokenizer
        tokenizer = PretrainedTransformerTokenizer({str(tiny_tokenizer_dir)!r})
        tokens = [t.text for t in tokenizer.tokenize("hello world")]
        assert tokens == ["[CLS]", "hello", "world", "[SEP]"], tokens
    """
    assert_needs_fix(code, "tokenizer-kwargs", "add_special_tokens")


REDUCE_ON_PLATEAU = """
import torch
from allennlp.common import Params
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
scheduler = LearningRateScheduler.from_params(optimizer=optimizer, params=Params(
    {"type": "reduce_on_plateau", "mode": "max", "factor": 0.5, "patience": 1, "verbose": False}))
rates = []
for metric in [0.5, 0.6, 0.6, 0.6, 0.7, 0.6, 0.6]:
    scheduler.step(metric)
    rates.append(optimizer.param_groups[0]["lr"])
# patience 1: the second epoch in a row without a new best halves the rate
assert rates == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025], rates
"""


def test_reduce_on_plateau_needs_the_verbose_fix():
    assert_needs_fix(REDUCE_ON_PLATEAU, "reduce-on-plateau", "verbose")


def test_reduce_on_plateau_refuses_verbose_true():
    result = run_python(REDUCE_ON_PLATEAU.replace('"verbose": False', '"verbose": True'))
    assert result.returncode != 0 and "verbose=True is not supported" in result.stderr


NARRATIVEQA_IMPORT = """
import nltk
calls = []
nltk.download = lambda *args, **kwargs: calls.append(args) or False
try:
    nltk.data.find("tokenizers/punkt")
    has_data = True
except LookupError:
    has_data = False
import allennlp_models.rc.tools.narrativeqa
print("downloads:", len(calls), "data:", has_data)
"""


def test_no_nltk_download_when_allennlp_models_is_imported():
    broken = run_python(NARRATIVEQA_IMPORT, disable="no-nltk-download")
    fixed = run_python(NARRATIVEQA_IMPORT)
    assert fixed.returncode == 0, fixed.stderr
    assert "downloads: 0" in fixed.stdout
    if "data: False" in broken.stdout:  # without the NLTK data the module asks for it
        assert "downloads: 2" in broken.stdout


def test_an_unknown_fix_name_stops_the_interpreter_at_start():
    result = run_python("print('started')", disable="tokenizer-kwargs,no-such-fix")
    assert result.returncode == 2 and "started" not in result.stdout
    assert "unknown runtime fixes ['no-such-fix']" in result.stderr
    assert all(name in result.stderr for name in seal_runtime_fixes.FIXES)  # the valid names


def test_install_refuses_an_unknown_fix_name_and_changes_nothing(monkeypatch):
    before = dict(seal_runtime_fixes._AFTER)
    monkeypatch.setenv(seal_runtime_fixes.DISABLE_VARIABLE, "tokenizer-kwargs,reduce_on_plateau")
    with pytest.raises(ValueError, match=r"\['reduce_on_plateau'\].*valid names: torchvision-stand-in"):
        seal_runtime_fixes.install()
    assert seal_runtime_fixes._AFTER == before


def test_disabled_fix_names_may_have_spaces(monkeypatch):
    monkeypatch.setenv(seal_runtime_fixes.DISABLE_VARIABLE, " tokenizer-kwargs , no-nltk-download,")
    assert seal_runtime_fixes.disabled_fixes() == {"tokenizer-kwargs", "no-nltk-download"}
