"""The user's own checks (`armvm-oe test --run CMD --run-dir DIR`): collected
from the command line, copied over a console into a shell and run there,
each one JUnit test case. The console here is a real POSIX shell (the host's
/bin/sh, and busybox sh when installed) on a pty, driven by the same
Console/matrix code as a guest's; the checks run in a real guest in
test_boot.py (busybox fixture) and test_distro.py (Debian)."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from armvm_oe import schemas
from armvm_oe.boottest import guestchecks, matrix, userchecks
from armvm_oe.boottest.result import CellResult, write_junit
from armvm_oe.errors import UsageError
from armvm_oe.qemu import Console

SHELLS = [s for s in (["/bin/sh", "-i"], ["busybox", "sh", "-i"]) if shutil.which(s[0])]


def _exe(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(0o755)
    return path


def test_collect_orders_commands_then_executables_by_name(tmp_path):
    d = tmp_path / "checks.d"
    d.mkdir()
    _exe(d / "20-net", "#!/bin/sh\nip addr\n")
    _exe(d / "10-uname", "#!/bin/sh\nuname -a\n")
    (d / "README").write_text("not a check (not executable)\n")
    checks = userchecks.collect(["uname -m", "true"], d)
    assert [c.name for c in checks] == ["uname -m", "true", "10-uname", "20-net"]
    assert checks[0].data == b"#!/bin/sh\nuname -m\n" and checks[0].run.startswith("sh ./")
    assert checks[2].origin == str(d / "10-uname") and checks[2].run == "./03-10-uname"


@pytest.mark.parametrize("case", ["missing", "no-exe", "too-big", "empty-cmd"])
def test_collect_refuses_bad_input(tmp_path, case):
    d = tmp_path / "d"
    args = ([], d)
    if case == "no-exe":
        d.mkdir()
        (d / "a").write_text("x")
    elif case == "too-big":
        d.mkdir()
        _exe(d / "big", b"#" * (userchecks.MAX_FILE + 1))
    elif case == "empty-cmd":
        args = (["  "], None)
    with pytest.raises(UsageError) as e:
        userchecks.collect(*args)
    assert e.value.exit_code == 2 and e.value.fix


def test_encoding_is_one_short_line_per_chunk():
    data = bytes(range(256)) * 5
    c = userchecks.UserCheck("x", "01-x", data, "./01-x", "x")
    cmds = userchecks.upload_commands(c)
    assert len(cmds) == 1 + -(-len(data) // userchecks.LINE_BYTES)
    assert all(len(line) < 2048 and "\n" not in line for line in cmds)
    assert all("'" not in line.split("'", 1)[1].rsplit("'", 1)[0] for line in cmds[1:])


@pytest.fixture(params=SHELLS, ids=lambda s: s[0].rsplit("/", 1)[-1])
def shell(request, tmp_path, monkeypatch):
    """A shell on a pty driven like a logged-in guest (prompt armvm#, no echo);
    the checks' directory is under tmp_path."""
    monkeypatch.setattr(userchecks, "GUEST_DIR", str(tmp_path / "guest-run"))
    con = Console.spawn(request.param, tmp_path / "console.log",
                        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ENV": ""})
    con._setup_shell()
    yield con
    con.close()


def test_checks_run_in_a_shell_and_become_junit_cases(shell, tmp_path):
    d = tmp_path / "checks.d"
    d.mkdir()
    blob = bytes(range(256)) * 3
    _exe(d / "10-binary-safe", "#!/bin/sh\n# quotes ' \" \\ % $HOME `x` !\n"
         f"printf 'bytes=%s\\n' $(wc -c < {d / 'payload'} 2>/dev/null || echo 0)\n"
         "echo to-stderr >&2\nexit 0\n")
    _exe(d / "payload", blob)          # executable: copied and run (it is data: it fails)
    _exe(d / "30-fails", "#!/bin/sh\necho about to fail\necho 'no such thing' >&2\nexit 3\n")
    checks = userchecks.collect(["echo hello; echo err >&2", "test -s /nonexistent"], d)
    st = matrix.Settings(image=tmp_path / "x", firmware=None, user_checks=checks)
    r = CellResult("aarch64-gic3-pci-pl011")
    guestchecks.user_checks(r, shell, st)
    runs = {x["name"]: x for x in r.runs}
    assert list(runs) == ["echo hello; echo err >&2", "test -s /nonexistent",
                          "10-binary-safe", "30-fails", "payload"]
    hello = runs["echo hello; echo err >&2"]
    assert (hello["exit_code"], hello["stdout"], hello["stderr"], hello["ok"]) == \
        (0, "hello", "err", True)
    assert runs["test -s /nonexistent"]["exit_code"] == 1
    assert runs["10-binary-safe"]["stdout"] == "bytes=768" and \
        runs["10-binary-safe"]["stderr"] == "to-stderr"
    # the payload arrived byte for byte (the copy checks its size; compare content too)
    copied = Path(userchecks.GUEST_DIR) / "05-payload"
    assert copied.read_bytes() == blob
    assert runs["30-fails"]["exit_code"] == 3 and runs["30-fails"]["stdout"] == "about to fail"
    assert runs["payload"]["ok"] is False
    r.finish()
    assert r.status == "fail"
    assert "--run 30-fails: exit 3" in r.message and "--run test -s /nonexistent" in r.message
    schemas.validate("test", {"image": "x", "arch": "aarch64", "ok": False, "elapsed_s": 1.0,
                              "junit": "r.xml", "cells": [r.as_dict()],
                              "firmware": {"arch": "aarch64", "code": "c", "vars_template": "v"},
                              "summary": {"pass": 0, "fail": 1, "skip": 0, "error": 0}})
    assert CellResult.from_dict(r.as_dict()).runs == r.runs
    suite = ET.parse(write_junit([r], tmp_path / "r.xml")).getroot().find("testsuite")
    cases = {tc.get("name"): tc for tc in suite.iter("testcase")}
    assert suite.get("tests") == "6" and suite.get("failures") == str(1 + 3)
    ok = cases["aarch64-gic3-pci-pl011: echo hello; echo err >&2"]
    assert ok.find("failure") is None and ok.find("system-out").text == "hello"
    assert ok.find("system-err").text == "err"
    bad = cases["aarch64-gic3-pci-pl011: 30-fails"]
    assert bad.find("failure").get("message") == "30-fails: exit status 3"
    assert bad.find("system-err").text == "no such thing"


def test_a_check_that_hangs_stops_the_rest(shell, tmp_path):
    checks = userchecks.collect(["sleep 30", "echo never"], None)
    st = matrix.Settings(image=tmp_path / "x", firmware=None, user_checks=checks,
                         run_timeout=2)
    r = CellResult("c")
    guestchecks.user_checks(r, shell, st)
    assert [x["error"] for x in r.runs] == ["did not finish within 2 s (--run-timeout)",
                                           "not run: an earlier check did not finish"]
    assert shell.shell is False        # the cell powers off through QMP, not the busy shell


@pytest.mark.parametrize("args,words", [
    (["--run-dir", "/nonexistent-checks"], "--run-dir /nonexistent-checks is not a directory"),
    (["--run", "true", "--login", "none"], "--run/--run-dir need a shell in the guest"),
    (["--kernel-log-ignore", "BAD"], "is not {match: REGEX, reason: TEXT}"),
])
def test_cli_refuses_bad_check_options_before_booting(armvm, image_aarch64, data_dir, tmp_path,
                                                      args, words):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- match: x\n")
    args = [str(bad) if a == "BAD" else a for a in args]
    p = armvm("test", image_aarch64, *args, env={"ARMVM_DATA_DIR": str(data_dir)})
    assert p.returncode == 2 and words in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and not (data_dir / "instances").exists()
