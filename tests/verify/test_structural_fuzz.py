"""Structural mutation fuzzer (nightly): mutations that keep the image
parseable deep down (CRCs recomputed, files rewritten through mtools,
compressed wrappers re-made) and an oracle per mutation that knows the
RIGHT verdict, so a wrong "compliant" is reported, not only a crash.

    ARMVM_FUZZ_SEED=123 ARMVM_FUZZ_CASES=500 python3 -m pytest -m nightly \\
        tests/verify/test_structural_fuzz.py

Every failure message names the seed, the case number and the mutation, so
it can be replayed with the same seed."""

from __future__ import annotations

import gzip
import os
import random
import struct
import subprocess

import pytest

from armvm_oe.image import open_image
from armvm_oe.verify import verify
from tests.verify import imagegen as g

SEED = int(os.environ.get("ARMVM_FUZZ_SEED", "16"))
CASES = int(os.environ.get("ARMVM_FUZZ_CASES", "200"))

# GRUB syntax a devicetree command can hide in; {dt} is the command, {lin} the linux line
HIDING = [
    "set timeout=0; {dt}\nmenuentry a {{\n {lin}\n}}\n",
    'menuentry "a" {{ {dt}; {lin}; }}\n',
    "if true; then {dt}; fi\nmenuentry a {{\n {lin}\n}}\n",
    'menuentry "a" --class x {{ {dt}\n {lin}\n}}\n',
    "menuentry a {{\n {lin}\n}}\nfunction f {{ {dt} }}\n",
    "while false; do {dt}; done\nmenuentry a {{\n {lin}\n}}\n",
    "menuentry a {{\n {lin}\n {dt} \\\n  # continued\n}}\n",
    "submenu s {{ menuentry a {{ {lin}; {dt}; }} }}\n",
    "eval \"{dt}\"\nmenuentry a {{\n {lin}\n}}\n",
    "true && {dt}\nmenuentry a {{\n {lin}\n}}\n",
    "{pad}menuentry a {{\n {lin}\n {dt}\n}}\n",
]
BENIGN = [
    "echo '{dt}'\nmenuentry a {{\n {lin}\n}}\n",
    "# {dt}\nmenuentry a {{\n {lin}\n}}\n",
    "menuentry a {{\n {lin}\n echo \"{dt};\"\n}}\n",
]
DT = ["devicetree /virt.dtb", "devicetree (hd0,gpt1)/x.dtb", "devicetree\t/a b"]


def _linux_line(img) -> str:
    with open_image(img) as im:
        cfg = im.fat(im.esp()).read("/EFI/BOOT/grub.cfg").decode()
    return next(x.strip() for x in cfg.splitlines() if x.strip().startswith("linux"))


def _put(img, tmp, name, data: bytes) -> None:
    f = tmp / "put.bin"
    f.write_bytes(data)
    g.mtools("mcopy", img, "-o", str(f), f"::{name}")


def _set_attr(img, value: int) -> None:
    back = os.path.getsize(img) // 512 - 1
    for lba in (1, back):
        elba = struct.unpack_from("<Q", g.read(img, lba * 512, 92), 72)[0]
        g.patch(img, elba * 512 + 48, struct.pack("<Q", value))
        g.fix_gpt_crcs(img, lba)


def _results(r) -> dict:
    return {(f.id, f.check): f.result for f in r.findings}


def _case(rnd: random.Random, base, tmp, lin) -> tuple[str, str | None]:
    """Mutate a copy; return (description, problem or None)."""
    img = g.copy(base, tmp / "m.wic")
    kind = rnd.choice(["hide", "benign", "attr", "truncate", "fatloop", "wrap"])
    if kind in ("hide", "benign"):
        tpl = rnd.choice(HIDING if kind == "hide" else BENIGN)
        text = tpl.format(dt=rnd.choice(DT), lin=lin,
                          pad="# x\n" * rnd.choice([0, 1, 20001]))
        _put(img, tmp, "/EFI/BOOT/grub.cfg", text.encode())
        r = verify(img)
        fdt = r.find("HW-FDT", "devicetree")[0].result
        if kind == "hide" and (r.exit_code == 0 or fdt != "fail"):
            return f"{kind} {tpl!r}", f"devicetree not found: HW-FDT {fdt}, exit {r.exit_code}"
        if kind == "benign" and fdt == "fail":
            return f"{kind} {tpl!r}", "a quoted/commented devicetree was taken for a command"
        return f"{kind} {tpl!r}", None
    if kind == "attr":
        value = rnd.getrandbits(64) & ~(rnd.choice([0, 2]))
        _set_attr(img, value)
        r = verify(img)
        res = r.find("IMG-ESP-TYPE", "esp-attributes")[0].result
        want = "fail" if value & 2 else "pass"
        return f"attr 0x{value:016x}", None if res == want else f"esp-attributes {res}"
    if kind == "truncate":
        with open_image(img) as im:
            data = im.fat(im.esp()).read("/EFI/BOOT/BOOTAA64.EFI")
        cut = rnd.randint(512, len(data) - 4097)
        _put(img, tmp, "/EFI/BOOT/BOOTAA64.EFI", data[:cut])
        r = verify(img)
        return f"truncate {cut}", None if r.result("IMG-EFI-APP") == "fail" and \
            r.exit_code == 1 else f"IMG-EFI-APP {r.result('IMG-EFI-APP')}"
    if kind == "fatloop":
        with open_image(img) as im:
            fs = im.fat(im.esp())
            c = fs.lookup("/Image").first_cluster
            n = rnd.randint(0, 64)
            fat0 = im.esp().offset + fs.reserved_sectors * fs.bytes_per_sector
        val = rnd.choice([c, 0, 0x0FFFFFF7, c + n])     # loop, free, bad, back-jump
        g.patch(img, fat0 + 4 * (c + n + 1), struct.pack("<I", val))
        r = verify(img)
        bad = [f for f in r.findings if "internal_error" in f.details]
        if bad:
            return f"fatloop {val}", f"internal error {bad[0].reason}"
        if r.find("HW-FDT", "devicetree")[0].result != "pass":
            return f"fatloop {val}", "a kernel chain error masked the GRUB check"
        return f"fatloop {val}", None
    # wrap: a compressed copy must give the same findings as the raw image
    _put(img, tmp, "/EFI/BOOT/grub.cfg",
         rnd.choice(HIDING + BENIGN).format(dt=DT[0], lin=lin, pad="").encode())
    raw = _results(verify(img))
    fmt = rnd.choice(["gzip", "zstd"])
    out = tmp / f"m.wic.{fmt}"
    if fmt == "gzip":
        with open(img, "rb") as src, gzip.open(out, "wb", compresslevel=1) as dst:
            while b := src.read(1 << 20):
                dst.write(b)
    else:
        subprocess.run(["zstd", "-q", "-1", "-f", "-o", str(out), str(img)], check=True)
    wrapped = _results(verify(out))
    diff = {k: (raw.get(k), wrapped.get(k)) for k in raw.keys() | wrapped.keys()
            if raw.get(k) != wrapped.get(k)}
    return f"wrap {fmt}", None if not diff else f"raw and {fmt} differ: {diff}"


@pytest.mark.nightly
def test_structural_fuzz(image, tmp_path):
    base = image("aarch64")
    lin = _linux_line(base)
    rnd = random.Random(SEED)
    wrong = []
    for i in range(CASES):
        d = tmp_path / f"c{i}"
        d.mkdir()
        try:
            what, problem = _case(rnd, base, d, lin)
        except Exception as exc:  # noqa: BLE001 - a crash is a finding of the fuzzer
            what, problem = "?", f"{type(exc).__name__}: {exc}"
        if problem:
            wrong.append(f"seed {SEED} case {i} ({what}): {problem}")
        subprocess.run(["rm", "-rf", str(d)])
    assert not wrong, f"{len(wrong)} wrong verdicts of {CASES}:\n" + "\n".join(wrong[:20])
