"""What `pip install .` installs: every package of the tree, the example municipality, the
dialplan templates and the prompt sounds (an installed `vaxel demo` needs them all)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__",
                                 ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache")


def test_the_wheel_carries_every_package_and_the_data_the_commands_read(tmp_path):
    tree = tmp_path / "tree"  # built from a copy: the build leaves build/ and egg-info behind
    shutil.copytree(ROOT, tree, ignore=IGNORED)
    packages = {str(p.parent.relative_to(tree)) for p in tree.glob("*/**/__init__.py")
                if not p.is_relative_to(tree / "tests")}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(tree)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("vaxel-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "telephony/fakepbx" in packages
    for package in packages:
        assert f"{package}/__init__.py" in names, package
    for data in ("config/exempelkommun/vaxel.yaml", "config/exempelkommun/telephony.yaml",
                 "config/scenarios/exempelkommun-monday.yaml",
                 "telephony/templates/extensions_vaxel.conf.j2", "sounds/manifest.json",
                 "sounds/sv/huvudmeny.wav", "sounds/en/num/7.ulaw"):
        assert data in names, data
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
