"""Seeded, bounded fuzz: thousands of mutated small images through the whole
verify pipeline in-process. No exception may escape, no check may break
with an internal error, every report must follow the JSON schema, and every
run must end (a per-image alarm turns a hang into a failure)."""

from __future__ import annotations

import random
import signal
import time

import pytest

from armvm_oe.image import read_esp_file
from armvm_oe.verify import verify_source
from tests.verify import fuzzgen

ITERATIONS = 3000
SEED = 20261121
HANG_SECONDS = 300               # a hang guard per image, not a time budget


class Hang(BaseException):
    """BaseException so verify's per-check guard cannot swallow it."""


@pytest.fixture(scope="module")
def bases(image, tmp_path_factory):
    aa = image("aarch64")
    grub_aa64 = read_esp_file(aa, "EFI/BOOT/BOOTAA64.EFI")
    grub_arm = read_esp_file(image("arm"), "EFI/BOOT/BOOTARM.EFI")
    cfg = read_esp_file(aa, "EFI/BOOT/grub.cfg")
    return fuzzgen.build_bases(tmp_path_factory.mktemp("fuzz"), grub_aa64, grub_arm, cfg)


def test_bases_are_sane(bases):
    res = {b.name: verify_source(fuzzgen.PatchedSource(b.data, [], len(b.data)),
                                 use_debugfs=False) for b in bases}
    assert res["fat32"].result("IMG-ESP-FAT32") == "pass"
    assert res["fat32"].result("IMG-EFI-APP") == "pass" and res["fat32"].result("IMG-GRUB") == "pass"
    assert res["fat32"].kernel["config_source"] == "IKCONFIG"
    assert res["fat16"].result("IMG-ESP-FAT32") == "fail" and res["fat16"].arch == "arm"
    assert res["fat16"].kernel["compression"] == "gzip"
    assert res["fat12"].result("IMG-ESP-TYPE") == "fail"
    assert res["fat12"].result("FW-NOT-IN-IMAGE") == "warn"


def test_fuzz_no_crash_no_hang(bases, validate):
    rnd = random.Random(SEED)

    def alarm(signum, frame):
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    outcomes = {"compliant": 0, "noncompliant": 0}
    results = set()
    slowest = 0.0
    try:
        for i in range(ITERATIONS):
            base = bases[i % len(bases)]
            src = fuzzgen.mutate(base, rnd)
            signal.alarm(HANG_SECONDS)
            t = time.perf_counter()
            try:
                report = verify_source(src, use_debugfs=False)
            except Hang:
                pytest.fail(f"iteration {i} ({base.name}) did not finish in {HANG_SECONDS} s; "
                            f"patches={src._patches!r} size={src.size}")
            except Exception as err:  # noqa: BLE001
                pytest.fail(f"iteration {i} ({base.name}) raised {type(err).__name__}: {err}; "
                            f"patches={src._patches!r} size={src.size}")
            finally:
                signal.alarm(0)
            slowest = max(slowest, time.perf_counter() - t)
            broken = [f.as_dict() for f in report.findings if "internal_error" in f.details]
            assert not broken, (i, base.name, src._patches, src.size, broken)
            if i % 25 == 0:
                validate(report.as_dict())
            outcomes["compliant" if report.compliant else "noncompliant"] += 1
            results.update((f.id, f.result) for f in report.findings)
    finally:
        signal.signal(signal.SIGALRM, old)
    # the mutations reached the checks: each kind of result shows up
    assert outcomes["noncompliant"] > ITERATIONS // 2
    assert ("IMG-GPT", "fail") in results and ("IMG-ESP-FAT32", "fail") in results
    assert ("IMG-EFI-APP", "fail") in results and ("IMG-REMOVABLE-PATH", "fail") in results
    print(f"fuzz: {ITERATIONS} images, {outcomes}, slowest {slowest:.3f} s")
