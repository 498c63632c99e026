"""Runtime fixes that let AllenNLP 2.10.1 run on Python 3.11 with PyTorch 2.x and transformers 4.5x.

AllenNLP 2.10.1 (the last release) was written for torch < 1.13 and transformers < 4.21.  Some of
its modules fail on today's stack.  Each fix below is applied lazily, the first time its target
module is imported, by a meta-path hook that `seal_runtime_fixes.pth` installs at interpreter start
(the ``allennlp`` command imports every allennlp submodule before it reads ``--include-package``, so
a fix inside ``seal/__init__.py`` would come too late).  Importing this module costs a few
milliseconds and imports nothing heavy.

The fixes, by the names that SEAL_DISABLE_RUNTIME_FIXES (comma-separated) switches off:

``torchvision-stand-in``
    ``allennlp.data.image_loader`` and ``allennlp.modules.vision.{grid_embedder,region_detector}``
    import torchvision at top level, but only use it inside image methods; PyPI's torchvision does
    not load beside the CPU torch.  While those three modules execute, an empty stand-in module
    named ``torchvision`` is visible; it is removed afterwards because transformers probes
    ``importlib.util.find_spec("torchvision")`` and must keep seeing that it is absent.

``transformers-adamw``
    ``allennlp.training.optimizers`` subclasses ``transformers.AdamW``, removed in transformers 4.4x.
    Before that module runs, ``transformers.AdamW`` is set to a ``torch.optim.AdamW`` subclass that
    accepts (and honours only the default of) ``correct_bias``.

``tokenizer-kwargs``
    ``allennlp.common.cached_transformers.get_tokenizer`` forwards ``add_special_tokens`` to
    ``AutoTokenizer.from_pretrained``, which modern transformers rejects.  The keyword is dropped
    there; allennlp passes it again on every encode call.

``reduce-on-plateau``
    The ``reduce_on_plateau`` learning-rate scheduler passes ``verbose`` to
    ``torch.optim.lr_scheduler.ReduceLROnPlateau``, which torch 2.x no longer accepts, so every
    config using it failed when the trainer was built.  Its constructor is replaced by one with the
    same arguments that leaves ``verbose`` out; ``verbose: true`` (it only printed each reduction)
    is refused rather than ignored.

``no-nltk-download``
    The ``allennlp`` command imports every allennlp-models module as a plugin; one of them,
    ``allennlp_models.rc.tools.narrativeqa``, calls ``nltk.download`` at import when the NLTK
    data is missing, i.e. on every run here: nothing may be downloaded at run time.  While that
    module executes, ``nltk.download`` is a no-op returning ``False`` (NarrativeQA evaluation is
    not used by seal).
"""
import importlib.abc
import importlib.machinery
import os
import sys
import types
from typing import Callable, Dict

_VISION_MODULES = (
    "allennlp.data.image_loader",
    "allennlp.modules.vision.grid_embedder",
    "allennlp.modules.vision.region_detector",
)


def _torchvision_stand_in() -> types.ModuleType:
    stand_in = types.ModuleType("torchvision")
    stand_in.__path__ = []  # a package, so `from torchvision.ops import x` fails only if used
    stand_in.__seal_stand_in__ = True
    ops = types.ModuleType("torchvision.ops")
    ops.boxes = types.ModuleType("torchvision.ops.boxes")
    stand_in.ops = ops
    models = types.ModuleType("torchvision.models")
    models.detection = types.ModuleType("torchvision.models.detection")
    stand_in.models = models
    return stand_in


def _exec_with_torchvision_stand_in(exec_module: Callable, module: types.ModuleType) -> None:
    if "torchvision" in sys.modules:
        exec_module(module)
        return
    stand_in = _torchvision_stand_in()
    names = {
        "torchvision": stand_in,
        "torchvision.ops": stand_in.ops,
        "torchvision.ops.boxes": stand_in.ops.boxes,
        "torchvision.models": stand_in.models,
        "torchvision.models.detection": stand_in.models.detection,
    }
    sys.modules.update(names)
    try:
        exec_module(module)
    finally:
        for name in names:
            if getattr(sys.modules.get(name), "__name__", None) == name:
                sys.modules.pop(name, None)


def _provide_transformers_adamw() -> None:
    import torch
    import transformers

    if hasattr(transformers, "AdamW"):
        return

    class AdamW(torch.optim.AdamW):
        """`torch.optim.AdamW` accepting transformers' old `correct_bias` argument.

        torch's AdamW always corrects the bias, which is transformers' default
        (`correct_bias=True`); asking for no correction is refused rather than ignored.
        """

        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0,
                     correct_bias=True, **kwargs):
            if not correct_bias:
                raise ValueError("correct_bias=False is not supported by torch.optim.AdamW")
            super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                             **kwargs)

    transformers.AdamW = AdamW


def _exec_without_nltk_download(exec_module: Callable, module: types.ModuleType) -> None:
    import nltk

    original = nltk.download
    nltk.download = lambda *args, **kwargs: False
    try:
        exec_module(module)
    finally:
        nltk.download = original


def _drop_tokenizer_add_special_tokens(module: types.ModuleType) -> None:
    original = module.get_tokenizer

    def get_tokenizer(model_name: str, **kwargs):
        kwargs.pop("add_special_tokens", None)
        return original(model_name, **kwargs)

    get_tokenizer.__doc__ = original.__doc__
    get_tokenizer.__wrapped__ = original
    module.get_tokenizer = get_tokenizer


def _reduce_on_plateau_without_verbose(module: types.ModuleType) -> None:
    import torch

    wrapper = module.ReduceOnPlateauLearningRateScheduler

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 verbose: bool = False, threshold_mode: str = "rel", threshold: float = 1e-4,
                 cooldown: int = 0, min_lr=0, eps: float = 1e-8) -> None:
        if verbose:
            raise ValueError("reduce_on_plateau: verbose=True is not supported by torch 2.x's "
                             "ReduceLROnPlateau; the trainer logs the learning rate instead")
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer=optimizer, mode=mode, factor=factor, patience=patience,
            threshold_mode=threshold_mode, threshold=threshold, cooldown=cooldown,
            min_lr=min_lr, eps=eps)
        super(wrapper, self).__init__(scheduler)

    __init__.__annotations__ = dict(wrapper.__init__.__annotations__)
    __init__.__wrapped__ = wrapper.__init__
    wrapper.__init__ = __init__


# Each fix by name: target module -> (run before its body, wrap its execution, run after its body).
# Setting SEAL_DISABLE_RUNTIME_FIXES to a comma-separated list of names switches those fixes off
# (to see the failure a fix prevents); an unknown name stops the interpreter at start.
DISABLE_VARIABLE = "SEAL_DISABLE_RUNTIME_FIXES"
FIXES = ("torchvision-stand-in", "transformers-adamw", "tokenizer-kwargs", "reduce-on-plateau",
         "no-nltk-download")
_BEFORE: Dict[str, Callable[[], None]] = {}
_WRAP: Dict[str, Callable] = {}
_AFTER: Dict[str, Callable[[types.ModuleType], None]] = {}


def _register(disabled: frozenset) -> None:
    _BEFORE.clear(), _WRAP.clear(), _AFTER.clear()
    if "torchvision-stand-in" not in disabled:
        _WRAP.update({name: _exec_with_torchvision_stand_in for name in _VISION_MODULES})
    if "transformers-adamw" not in disabled:
        _BEFORE["allennlp.training.optimizers"] = _provide_transformers_adamw
    if "tokenizer-kwargs" not in disabled:
        _AFTER["allennlp.common.cached_transformers"] = _drop_tokenizer_add_special_tokens
    if "reduce-on-plateau" not in disabled:
        _AFTER["allennlp.training.learning_rate_schedulers.pytorch_lr_schedulers"] = _reduce_on_plateau_without_verbose
    if "no-nltk-download" not in disabled:
        _WRAP["allennlp_models.rc.tools.narrativeqa"] = _exec_without_nltk_download


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, wrapped: importlib.abc.Loader, name: str):
        self._wrapped = wrapped
        self._name = name

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def exec_module(self, module):
        if self._name in _BEFORE:
            _BEFORE[self._name]()
        if self._name in _WRAP:
            _WRAP[self._name](self._wrapped.exec_module, module)
        else:
            self._wrapped.exec_module(module)
        if self._name in _AFTER:
            _AFTER[self._name](module)


class _PatchingFinder(importlib.abc.MetaPathFinder):
    """Finds the target modules with the other finders and wraps their loaders."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _BEFORE and fullname not in _WRAP and fullname not in _AFTER:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, fullname)
                return spec
        return None


def disabled_fixes() -> frozenset:
    """The fixes that SEAL_DISABLE_RUNTIME_FIXES switches off; a name that is not a fix is an error
    (a typo must not silently leave a fix on)."""
    value = os.environ.get(DISABLE_VARIABLE, "")
    names = frozenset(name.strip() for name in value.split(",")) - {""}
    unknown = names - set(FIXES)
    if unknown:
        raise ValueError(f"{DISABLE_VARIABLE}={value!r} names unknown runtime fixes {sorted(unknown)}; "
                         f"valid names: {', '.join(FIXES)}")
    return names


def install() -> None:
    """Installs the import hook (idempotent). Modules already imported are not patched.
    Raises `ValueError` (installing nothing) if SEAL_DISABLE_RUNTIME_FIXES names an unknown fix."""
    _register(disabled_fixes())
    if not any(isinstance(finder, _PatchingFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchingFinder())


def install_at_startup() -> None:
    """What `seal_runtime_fixes.pth` runs at interpreter start.  site.py only prints an exception
    raised by a `.pth` line and starts Python with no fix at all, so a bad switch ends the process
    with its message and exit status 2 instead."""
    try:
        install()
    except ValueError as error:
        sys.stderr.write(f"seal_runtime_fixes: {error}\n")
        sys.stderr.flush()
        os._exit(2)


def installed() -> bool:
    return any(isinstance(finder, _PatchingFinder) for finder in sys.meta_path)
