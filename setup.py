"""Adds `seal_runtime_fixes.pth` to seal's wheels; everything else is declared in pyproject.toml.

The `.pth` file must reach site-packages itself, for regular and editable installs alike, because
the `allennlp` command imports allennlp's modules before it reads `--include-package`.  setuptools
has no declarative option for that (`data-files` land under sys.prefix, `package-data` inside a
package), hence these two commands.
"""
import os

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = "seal_runtime_fixes.pth"
HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithPth(build_py):
    """Copies the `.pth` file next to the packages, so wheels install it into site-packages."""

    def run(self):
        super().run()
        self.copy_file(os.path.join(HERE, PTH), os.path.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH)]


class EditableWheelWithPth(editable_wheel):
    """Adds the `.pth` file to the editable wheel that `pip install -e .` builds."""

    def _select_strategy(self, *args, **kwargs):
        strategy = super()._select_strategy(*args, **kwargs)
        write_files = strategy.__call__

        class _WithPth(type(strategy)):
            def __call__(self, wheel, files, mapping):
                write_files(wheel, files, mapping)
                with open(os.path.join(HERE, PTH), "rb") as pth:
                    wheel.writestr(PTH, pth.read())

        strategy.__class__ = _WithPth
        return strategy


setup(cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
