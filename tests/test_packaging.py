"""The wheel holds the library only: `jaxlayers` (typed), not experiments/ or benchmarks/."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", ".data", "runs", "build", "dist", "*.egg-info",
                                     "__pycache__", ".pytest_cache", ".hypothesis", "shared")


def test_wheel_installs_only_jaxlayers(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)  # experiments/ and benchmarks/ included
    assert (source / "experiments" / "__init__.py").is_file() and (source / "benchmarks" / "__init__.py").is_file()
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "--no-index", "--quiet", "--wheel-dir", str(tmp_path / "dist")], check=True, timeout=300,
                   capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("jaxlayers-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"jaxlayers"} and len(dist_info) == 1
    assert "jaxlayers/py.typed" in names and "jaxlayers/__init__.py" in names
    assert not [n for n in names if n.startswith(("experiments/", "benchmarks/", "tests/"))]
