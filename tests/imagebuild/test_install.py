"""A non-editable install (what scripts/install.sh does) builds the container
from the definition shipped in the package: the README's first command never
needs 'pip install -e'. A real venv, a real wheel build of this tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.docker


def test_non_editable_install_finds_the_container_definition(tmp_path, frozen_source,
                                                             builder_image, cli_env):
    src = tmp_path / "src"
    shutil.copytree(frozen_source, src)
    venv = tmp_path / "venv"
    # the system's packages provide the dependencies (no PyPI round trip);
    # armvm_oe itself is built (setuptools from PyPI, as install.sh does) and
    # installed from the copy, not editable
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(src)], check=True, capture_output=True,
                   timeout=600)
    shutil.rmtree(src)              # nothing may point back at a source tree
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(cli_env, NO_COLOR="1")
    del env["ARMVM_SOURCE_DIR"]
    run = dict(cwd=tmp_path, env=env, text=True, capture_output=True, timeout=600)
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import armvm_oe, armvm_oe.container.image as i; "
                            "print(armvm_oe.__file__); print(i.source_root())"], **run)
    assert where.returncode == 0, where.stderr
    mod, root = where.stdout.split()
    assert mod.startswith(str(venv)) and root.startswith(str(venv)), where.stdout
    # the installed copy computes the tag of the image the session built from
    # the checkout, and `container build` finds it (nothing to rebuild)
    tag = subprocess.run([str(venv / "bin" / "armvm-oe"), "container", "tag"], **run)
    assert tag.returncode == 0, tag.stderr
    assert tag.stdout.strip() == builder_image
    r = subprocess.run([str(venv / "bin" / "armvm-oe"), "container", "build", "--json"], **run)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tag"] == builder_image
    assert "containers/Dockerfile" not in r.stderr
