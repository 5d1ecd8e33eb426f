"""Builds the optional C accelerator ``sa3p_parser._speedups``; everything else is in pyproject.

The extension is optional: if it cannot be compiled (no compiler, no Python headers), the install
still succeeds and ``sa3p_parser`` uses its pure-Python fallback, which gives the same results
(set ``SA3P_PURE_PYTHON=1`` to force the fallback). MarkupSafe's ``_speedups`` is the model.
"""

from __future__ import annotations

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalOptimizedBuildExt(build_ext):
    """Compile with -O3 where the compiler understands it (gcc/clang vectorise the hot loop)."""

    def build_extension(self, ext: Extension) -> None:
        if self.compiler.compiler_type == "unix":
            ext.extra_compile_args = [*ext.extra_compile_args, "-O3"]
        super().build_extension(ext)


setup(
    ext_modules=[
        Extension("sa3p_parser._speedups", ["src/sa3p_parser/_speedups.c"], optional=True)
    ],
    cmdclass={"build_ext": OptionalOptimizedBuildExt},
)
