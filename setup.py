"""Build of the optional C core (async_ingest.transform._native); everything else is in pyproject.toml.

The extension is optional: without a compiler the install still succeeds, prints one warning, and the
pure-Python twin (async_ingest/transform/pytwin.py) runs with identical results, only slower.
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# distutils' CCompilerError, DistutilsExecError and DistutilsPlatformError (pyproject: setuptools>=68).
from setuptools.errors import CCompilerError, ExecError, PlatformError

FAILURES = (CCompilerError, ExecError, PlatformError, OSError)
WARNING = (
    "WARNING: async_ingest's C core did not build ({error}); the pure-Python twin will run instead "
    "(same results, slower per-byte work)."
)


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into one warning instead of a failed install."""

    def run(self) -> None:
        try:
            super().run()
        except FAILURES as error:
            print(WARNING.format(error=error), file=sys.stderr)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except FAILURES as error:
            print(WARNING.format(error=error), file=sys.stderr)


# -O3, no -march: the built module must run on any CPU of its architecture (SSE2 is x86_64's baseline).
COMPILE_ARGS = [] if sys.platform == "win32" else ["-O3", "-std=c99"]

setup(
    ext_modules=[
        Extension(
            "async_ingest.transform._native",
            sources=["async_ingest/transform/_native.c"],
            extra_compile_args=COMPILE_ARGS,
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
