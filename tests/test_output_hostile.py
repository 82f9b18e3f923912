"""Issue 16 item 5, "output hygiene": a string that comes from an image, a
log, a config or a file name reaches a terminal only escaped
(ui.term_safe), and --json keeps it exact.

One table: each row puts the same hostile string (clear screen, an OSC 8
hyperlink, the C1 CSI \\x9b, a bidi override, a carriage return) into one
command's input - a kas file's repo id/branch/path, an image file name, a
guest's console facts and messages, a build report, a container build's
output, a build log - and runs the command's text path and its --json path.
Text: no raw control character on stdout or stderr (the pipes carry no
colour: NO_COLOR). JSON: the exact string is one of the values.
Subprocess rows run the real CLI; in-process rows replace only the back end
that would boot QEMU, run bitbake or talk to a container engine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _need import need_fixture

ROOT = Path(__file__).resolve().parent.parent
# (no "/": it is also a file name)
HOSTILE = "ev\x1b[2Jil\x1b]8;;https:e.invalid\x07link\x1b]8;;\x07\x9b31m\u202eZ\rX"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# YAML double-quoted form of HOSTILE (a kas file cannot hold raw C0 controls)
YAML_HOSTILE = "ev\\e[2Jil\\e]8;;https:e.invalid\\alink\\e]8;;\\a\\x9b31m\\u202eZ\\rX"


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARMVM_", "KAS_"))}
    env.update(NO_COLOR="1", TERM="dumb", PYTHONPATH=str(ROOT),
               ARMVM_DATA_DIR=str(tmp / "data"), ARMVM_CACHE_DIR=str(tmp / "cache"))
    return env


def _cli(tmp: Path, *args) -> tuple[int, str, str]:
    p = subprocess.run([sys.executable, "-m", "armvm_oe", *map(str, args)], cwd=tmp,
                       capture_output=True, text=True, env=_env(tmp), timeout=300)
    return p.returncode, p.stdout, p.stderr


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _gpt_image(path: Path) -> Path:
    if not shutil.which("sgdisk"):
        need_fixture("sgdisk (gdisk) is not installed")
    with open(path, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["sgdisk", "-n", "1:2048:0", "-t", "1:ef00", str(path)], check=True,
                   capture_output=True)
    return path


def _firmware(tmp: Path) -> list:
    (tmp / "CODE.fd").write_bytes(b"\x01" * 4096)
    (tmp / "VARS.fd").write_bytes(b"\x02" * 4096)
    return ["--firmware", tmp / "CODE.fd", "--vars-template", tmp / "VARS.fd"]


def _kas(tmp: Path) -> Path:
    cfg = tmp / "hostile.yml"
    cfg.write_text("header:\n  version: 14\nmachine: qemuarm64\nrepos:\n"
                   f'  "{YAML_HOSTILE}":\n'
                   f'    url: "https://example.invalid/{YAML_HOSTILE}.git"\n'
                   f'    branch: "{YAML_HOSTILE}"\n'
                   f'    commit: "{"a" * 40}"\n'
                   f'    path: "layers/{YAML_HOSTILE}"\n')
    return cfg


# ---- subprocess rows: (text argv, json argv) built in tmp -----------------

def row_status(tmp):
    cfg = _kas(tmp)
    return ["status", cfg, "--work-dir", tmp / "w"], ["status", cfg, "--work-dir", tmp / "w",
                                                      "--json"]


def row_lock(tmp):
    cfg = _kas(tmp)
    return ["lock", cfg], ["lock", cfg, "--json"]


def row_run(tmp):
    # run's text names no image path (the argv has the overlay): the
    # hostile part is the extra QEMU arguments, printed in the argv
    img = _gpt_image(tmp / f"{HOSTILE}.wic")
    base = ["run", img, "--arch", "aarch64", *_firmware(tmp), "--snapshot", "--dry-run",
            "--qemu-args", "-name " + HOSTILE.replace("\r", "")]
    return base, [*base, "--json"]


def row_instances(tmp):
    img = _gpt_image(tmp / f"{HOSTILE}.wic")
    rc, _, err = _cli(tmp, "run", img, "--arch", "aarch64", *_firmware(tmp), "--instance",
                      "hostile", "--dry-run")
    assert rc == 0, err
    return ["instances"], ["instances", "--json"]


def row_export(tmp):
    img = _gpt_image(tmp / "disk.wic")
    return (["export", img, "--to", "raw", "-o", tmp / f"{HOSTILE}-1.raw"],
            ["export", img, "--to", "raw", "-o", tmp / f"{HOSTILE}-2.raw", "--json"])


def row_avh_pack(tmp):
    from armvm_oe.testing import debian
    kernel = debian.kernel("aarch64")[0]
    from armvm_oe.testing.fixtures import virt_dtb
    dtb = virt_dtb(tmp / "virt.dtb")
    disk = tmp / "disk.img"
    disk.write_bytes(b"\x01" * 4096 + bytes(1 << 20))
    base = ["avh", "pack", "--device", "rpi4b", "--kernel", kernel, "--dtb", dtb,
            "--storage", disk]
    return ([*base, "-o", tmp / f"{HOSTILE}-1.zip"],
            [*base, "-o", tmp / f"{HOSTILE}-2.zip", "--json"])


def row_doctor_log(tmp):
    log = tmp / "build.log"
    log.write_text(f"NOTE: Executing Tasks\nERROR: {HOSTILE}: do_compile failed\n"
                   f"ERROR: Task (/x/{HOSTILE}.bb:do_compile) failed with exit code '1'\n")
    return ["doctor", "--log", log], ["doctor", "--log", log, "--format", "json"]


# what --json must hold exactly, where it is not HOSTILE itself: doctor's log
# model reads lines (the CR ends one) with the terminal's colour sequences
# removed (bitbake colours its log; doctor/logmodel.py), C1 and bidi kept
JSON_EXPECT = {"doctor-log": "link\x9b31m\u202eZ",
               "run": HOSTILE.replace("\r", "")}
# the escaped form the text must show
TEXT_EXPECT = {"doctor-log": "link\\x9b31m\\u202eZ"}


SUBPROCESS_ROWS = {"avh-pack": row_avh_pack, "status": row_status, "lock": row_lock, "run": row_run,
                   "instances": row_instances, "export": row_export,
                   "doctor-log": row_doctor_log}


@pytest.mark.parametrize("name", sorted(SUBPROCESS_ROWS))
def test_hostile_strings_subprocess(name, tmp_path):
    text_argv, json_argv = SUBPROCESS_ROWS[name](tmp_path)
    rc, out, err = _cli(tmp_path, *text_argv)
    assert "Traceback" not in err, err
    assert TEXT_EXPECT.get(name, "ev\\x1b[2J") in out + err, (rc, out, err)
    bad = RAW.findall(out + err)
    assert not bad, (name, bad, out[-1500:], err[-1500:])
    rc, out, err = _cli(tmp_path, *json_argv)
    doc = json.loads(out)
    want = JSON_EXPECT.get(name, HOSTILE)
    assert any(want in s for s in _strings(doc)), (name, out[-2000:])


# ---- in-process rows: the back end replaced, the CLI's text path real ------

def _main(argv) -> int:
    from armvm_oe.cli import main
    return main([str(a) for a in argv])


def _test_results():
    from armvm_oe.boottest.result import CellResult
    a = CellResult("gic3-pci-pl011", "fail", 3.0, facts={"gic": HOSTILE, "tty": HOSTILE},
                   params={"hypervisor": "kvm"}, notes=[HOSTILE])
    a.add_check("GUEST-GIC", False, f"the guest said {HOSTILE}", "log")
    a.finish()
    b = CellResult("xen-aarch64", "error", 1.0, params={"hypervisor": "xen"},
                   message=f"the Xen back end failed: {HOSTILE}")
    return [a, b]


def inproc_test(tmp, monkeypatch, as_json):
    from armvm_oe.boottest import matrix as mx
    img = _gpt_image(tmp / "disk.wic")

    def fake_matrix(cells, st, jobs=None, on_result=None, **kw):
        res = _test_results()
        for r in res:
            on_result(r)
        return res
    monkeypatch.setattr(mx, "run_matrix", fake_matrix)
    return _main(["test", img, "--arch", "aarch64", *_firmware(tmp), "--quick", "--kvm", "off",
                  "--junit", tmp / "r.xml", "--log-dir", tmp / "logs",
                  *(["--json"] if as_json else [])])


def inproc_build(tmp, monkeypatch, as_json):
    import armvm_oe.imagebuild.orchestrate as orch
    from armvm_oe.imagebuild.options import BuildOptions, BuildOutcome

    def fake_build(opts: BuildOptions):
        opts.say(f"build: {HOSTILE}")                 # the default say: the log tail etc.
        return BuildOutcome({"status": "succeeded", "seconds": 1.0, "mode": "host",
                             "machine": HOSTILE, "wic": f"/x/{HOSTILE}.wic",
                             "build_dir": str(tmp / HOSTILE), "log": f"{HOSTILE}.log"}, 0)
    monkeypatch.setattr(orch, "run_build", fake_build)
    return _main(["build", _kas(tmp), "--host", *(["--json"] if as_json else [])])


def inproc_container(tmp, monkeypatch, as_json):
    import armvm_oe.plugins.container as pc
    prog = None
    for attr in vars(pc).values():
        if isinstance(attr, type) and hasattr(attr, "step") and hasattr(attr, "line"):
            prog = attr
    assert prog, "the container build's progress class"
    p = prog.__new__(prog)
    p.verbose, p.quiet, p.bar = 1, False, None
    p.step(1, 3, f"RUN echo {HOSTILE}")
    p.line(f"Step output {HOSTILE}")
    return 0


INPROC_ROWS = {"test": inproc_test, "build": inproc_build, "container": inproc_container}
NO_JSON = {"container"}         # the container build's progress lines have no JSON form


@pytest.mark.parametrize("name", sorted(INPROC_ROWS))
def test_hostile_strings_in_process(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("ARMVM_DATA_DIR", str(tmp_path / "data"))
    INPROC_ROWS[name](tmp_path, monkeypatch, False)
    out, err = capsys.readouterr()
    assert "ev\\x1b[2J" in out + err, (out, err)
    bad = RAW.findall(out + err)
    assert not bad, (name, bad, out[-1500:], err[-1500:])
    if name in NO_JSON:
        return
    INPROC_ROWS[name](tmp_path, monkeypatch, True)
    out, err = capsys.readouterr()
    assert any(HOSTILE in s for s in _strings(json.loads(out))), out[-2000:]
