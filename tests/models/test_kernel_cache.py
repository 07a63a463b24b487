"""Numba's on-disk kernel cache follows the carbonsim modules a kernel imports (carbonsim/kernel_cache.py).

The hazard: Numba keys a stored kernel on its own file and bytecode only, so after a layout module's
constants changed, a serving kernel compiled against the old layout was loaded again (a
ZeroDivisionError until the cache files were deleted)."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path


from carbonsim import kernel_cache

PACKAGE = kernel_cache.PACKAGE_ROOT


def _rel(paths):
    return {p.relative_to(PACKAGE).as_posix() for p in paths}


def test_a_kernel_depends_on_what_it_imports_and_nothing_else():
    # the serving kernel compiles in perf's layout constants and its smooth max, serving's layout
    # and the quantile helpers; the engine and the package's __init__ are no part of it (a change
    # there must not cost an 80-second recompilation)
    deps = _rel(kernel_cache.dependency_closure(PACKAGE / "models" / "serving" / "_kernels.py"))
    assert {"models/perf/layout.py", "models/perf/_kernels.py", "models/serving/layout.py",
            "models/serving/quantiles.py", "models/arrays.py"} <= deps
    assert not any(d.startswith(("engine/", "report/")) or d == "__init__.py" for d in deps)
    # a layer-1 formula compiled by the refresh kernel: its own imports are its dependencies
    assert _rel(kernel_cache.dependency_closure(PACKAGE / "models" / "lifecycle" / "amortisation.py")) == {
        "models/lifecycle/amortisation.py", "models/grid/carbon.py", "units.py"}


def test_the_locator_is_in_place_with_this_numba():
    # install() returns False where Numba's caching hooks have moved: a Numba upgrade fails here
    import carbonsim.models.perf._kernels  # noqa: F401  (installs it)

    assert kernel_cache.install() is True


def test_every_cached_kernel_module_installs_the_locator_first():
    # a kernel's cache is chosen when its decorator runs: the module must install the locator before
    for f in sorted(PACKAGE.rglob("*.py")):
        text = f.read_text()
        if "cache=True" not in text or f.name == "kernel_cache.py":
            continue
        assert "kernel_cache.install()" in text, f
        assert text.index("kernel_cache.install()") < text.index("cache=True"), f


LAYOUT = """
from numba import njit

SCALE = {scale}


@njit
def offset(x):
    return x + {offset}
"""

KERNEL = """
from numba import njit

from carbonsim import kernel_cache
from carbonsim.models._probe_layout import SCALE, offset

kernel_cache.install()


@njit(cache=True)
def scaled(x):
    return offset(x) * SCALE
"""

RUN = "from carbonsim.models._probe_kernel import scaled; print(scaled(1.0))"


def _run(root: Path, run: str = RUN) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["PYTHONPATH"] = str(root)
    out = subprocess.run([sys.executable, "-c", run], cwd=root, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return float(out.stdout.split()[-1])


def test_a_stored_kernel_follows_a_changed_dependency(tmp_path):
    # a copy of the package with a probe kernel that imports a constant and an @njit helper from
    # another module; each run is a fresh process, as a user's next command would be
    root = tmp_path / "site"
    shutil.copytree(PACKAGE, root / "carbonsim", ignore=shutil.ignore_patterns("__pycache__"))
    layout = root / "carbonsim" / "models" / "_probe_layout.py"
    layout.write_text(LAYOUT.format(scale=2.0, offset=1.0))
    (root / "carbonsim" / "models" / "_probe_kernel.py").write_text(textwrap.dedent(KERNEL))

    assert _run(root) == 4.0  # (1 + 1) * 2, compiled and stored
    stored = list((root / "carbonsim" / "models" / "__pycache__").glob("_probe_kernel.scaled-*.nbi"))
    assert stored, "the kernel was not cached, so this test would show nothing"

    layout.write_text(LAYOUT.format(scale=3.0, offset=1.0))  # a constant changes, the kernel file does not
    assert _run(root) == 6.0
    layout.write_text(LAYOUT.format(scale=3.0, offset=2.0))  # the imported @njit helper changes
    assert _run(root) == 9.0
    assert _run(root) == 9.0  # and the recompiled kernel is stored and reused

    # the control: the same kernel in a file outside carbonsim, which keeps Numba's own locator
    # (the dependency-aware one serves carbonsim's files only): once stored, it is loaded again
    # after the imported constant changes, the hazard this module removes
    (root / "_probe_plain.py").write_text(textwrap.dedent(KERNEL).replace("kernel_cache.install()\n", ""))
    plain = "from _probe_plain import scaled; print(scaled(1.0))"
    assert _run(root, run=plain) == 9.0  # Numba's own stamp: compiled and stored
    layout.write_text(LAYOUT.format(scale=5.0, offset=2.0))
    assert _run(root, run=plain) == 9.0  # stale: the old constant, compiled in
    assert _run(root) == 15.0  # carbonsim's locator: the new one
