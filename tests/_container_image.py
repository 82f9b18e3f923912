"""The real build container for tests that need it (tests/container and
tests/imagebuild): a real Docker engine, a Debian base image made with debootstrap
(no registry is reachable on CI machines; cached under lib.cache_dir() keyed by
its inputs) and the build container built ONCE per pytest session from it (the
engine's layer cache and the content-hash tag make later sessions with
unchanged inputs instant).

The fixtures are registered once, in tests/conftest.py, so both areas share
the same session-scoped image. ``cli_env`` is the ARMVM_CONTAINER_* / source
environment that makes ``ImageSpec.from_env()`` (what ``armvm-oe container``
and ``armvm-oe build`` use) compute exactly the tag ``builder_image`` built."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from armvm_oe import lib

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make-base-image.sh"
SUITE = "bookworm"


def _mirror() -> str:
    from armvm_oe.container.image import host_debian_mirror

    return os.environ.get("ARMVM_TEST_DEBIAN_MIRROR") or host_debian_mirror() \
        or "http://deb.debian.org/debian"


@pytest.fixture(scope="session")
def docker_client():
    from armvm_oe.container import engine

    # .ci/setup.d/20-docker.sh starts the engine; not reaching it is a failure, not a skip
    return engine.connect()


@pytest.fixture(scope="session")
def debian_mirror() -> str:
    return _mirror()


@pytest.fixture(scope="session")
def base_image(docker_client, debian_mirror) -> str:
    """A debootstrap-made bookworm base, imported into the engine."""
    key = hashlib.sha256(SCRIPT.read_bytes() + f"\0{debian_mirror}\0{SUITE}".encode()).hexdigest()[:16]
    tag = f"armvm-oe/debian-base:test-{key}"
    try:
        docker_client.images.get(tag)
        return tag
    except Exception:  # noqa: BLE001 - not there yet
        pass
    cache = lib.cache_dir() / "container"
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"debian-base-{SUITE}-{key}.tar"
    if not tarball.exists():
        if os.geteuid() != 0:
            pytest.fail("making the debootstrap base image needs root (CI runs as root)")
        t0 = time.monotonic()
        subprocess.run(["bash", str(SCRIPT), "--mirror", debian_mirror, "--suite", SUITE,
                        "--tarball", str(tarball), "--no-import"], check=True)
        print(f"\n[container] debootstrap base tarball: {time.monotonic() - t0:.0f} s",
              file=sys.stderr)
    repo, _, tg = tag.partition(":")
    docker_client.api.import_image_from_file(str(tarball), repository=repo, tag=tg,
                                             changes=['CMD ["bash"]'])
    return tag


def site_ca_certs() -> tuple[str, ...]:
    """CA certificates the site added (/usr/local/share/ca-certificates), e.g. for a
    TLS-inspecting proxy in front of PyPI: the build needs them to pip install."""
    d = Path("/usr/local/share/ca-certificates")
    return tuple(str(p) for p in sorted(d.rglob("*.crt"))) if d.is_dir() else ()


@pytest.fixture(scope="session")
def frozen_source(tmp_path_factory) -> Path:
    """A copy of the image inputs taken at session start: other engineers edit
    armvm_oe/ in the same checkout while the tests run, which would change the
    content-hash tag between tests."""
    import shutil

    from armvm_oe.container.image import FIXED_INPUTS

    dst = tmp_path_factory.mktemp("image-inputs")
    for rel in FIXED_INPUTS:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst / rel)
    shutil.copytree(ROOT / "armvm_oe", dst / "armvm_oe",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    return dst


@pytest.fixture(scope="session")
def image_spec(base_image, debian_mirror, frozen_source):
    from armvm_oe.container.image import ImageSpec

    return ImageSpec(base_image=base_image, mirror=debian_mirror, ca_certs=site_ca_certs(),
                     root=frozen_source)


@pytest.fixture(scope="session")
def cli_env(base_image, debian_mirror, frozen_source) -> dict:
    """Environment for `armvm-oe container ...` to use the session's image."""
    return {"ARMVM_SOURCE_DIR": str(frozen_source), "ARMVM_CONTAINER_BASE_IMAGE": base_image,
            "ARMVM_CONTAINER_MIRROR": debian_mirror,
            "ARMVM_CONTAINER_CA_CERTS": os.pathsep.join(site_ca_certs())}


@pytest.fixture(scope="session")
def builder_image(docker_client, image_spec) -> str:
    """The real build container (built once per session, if its tag is missing)."""
    from armvm_oe.container.image import ensure_image

    res = ensure_image(docker_client, image_spec)
    if res.built:
        print(f"\n[container] image {res.tag} built in {res.seconds:.0f} s", file=sys.stderr)
    return res.tag
