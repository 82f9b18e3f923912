"""Reproducibility: the image rebuilt from the same inputs with no cache has
the same layers (the same diff_ids), or the report names the file that differs.

The no-cache rebuild repeats the whole apt install (minutes), so it runs in the
nightly suite: python3 -m pytest -m nightly tests/container"""

from __future__ import annotations

import pytest

from armvm_oe.container.image import build_image
from armvm_oe.container.repro import compare_images

pytestmark = [pytest.mark.docker, pytest.mark.nightly]


def test_rebuild_without_cache_gives_identical_layers(docker_client, builder_image, image_spec):
    second = builder_image + "-recheck"
    res = build_image(docker_client, image_spec, nocache=True, tag=second)
    try:
        report = compare_images(docker_client, builder_image, second)
        print(f"\n[container] no-cache rebuild: {res.seconds:.0f} s")
        print("\n".join(report.lines()))
        assert len(report.layers) >= 5
        assert report.identical, "\n".join(report.lines())
    finally:
        docker_client.images.remove(second)
