"""Build script: maps the top-level folders to ``carbonedge.*`` and builds the compiled core.

``carbonedge`` itself is a namespace package with no folder of its own; ``runtime/`` is installed
as ``carbonedge.runtime``, ``kernels/`` as ``carbonedge.kernels`` and so on. The Cython extensions
and the pybind11 C++ module are built by both ``pip install .`` and ``pip install -e .``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from pybind11.setup_helpers import Pybind11Extension
from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent
TOP_LEVEL = ("runtime", "kernels", "vision", "devices", "calibration", "emissions", "benchmarks")


def _subpackages() -> tuple[list[str], dict[str, str]]:
    """Every folder with an ``__init__.py`` under the top-level folders, as ``carbonedge.*``."""
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for top in TOP_LEVEL:
        for init in sorted((HERE / top).rglob("__init__.py")):
            rel = init.parent.relative_to(HERE)
            name = "carbonedge." + ".".join(rel.parts)
            packages.append(name)
            package_dir[name] = rel.as_posix()
    return packages, package_dir


_OPT = ["-O3"] if os.name != "nt" else ["/O2"]

# Add a Cython kernel by adding its module name here (kernels/<name>.pyx).
cython_extensions = cythonize(
    [
        Extension(
            f"carbonedge.kernels.{name}",
            [f"kernels/{name}.pyx"],
            include_dirs=[numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=_OPT,
        )
        for name in ("_letterbox", "_motion", "_fire", "_camera_moved", "_hj212")
    ],
    language_level=3,
)

native_extensions = [
    Pybind11Extension(
        "carbonedge.kernels._native",
        ["kernels/_native/module.cpp"],
        cxx_std=17,
        extra_compile_args=_OPT,
    )
]

packages, package_dir = _subpackages()

setup(
    packages=packages,
    package_dir=package_dir,
    ext_modules=cython_extensions + native_extensions,
    package_data={
        "carbonedge.runtime": ["py.typed", "examples/*.yaml"],
        "carbonedge.benchmarks": ["*.md"],
        "carbonedge.runtime.uplink": ["schemas/*.json", "schemas/parts/*.json", "SCHEMA.md"],
        "carbonedge.runtime.stages": ["sections/*.json"],
        "carbonedge.emissions": ["data/*.csv", "data/*.md"],
        "carbonedge.runtime.calibrate.web": ["static/*.html", "static/*.js", "static/*.css"],
    },
)
