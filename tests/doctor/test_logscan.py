"""The log scanner: every pattern fires on its real error text (written to a
log file and read back through the CLI), the first real cause comes before
the cascade, and a real shell cascade is diagnosed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from armvm_oe.doctor.logscan import PATTERNS, diagnose

SEED = Path("/work/shared/seeds/000_098be8412aed3594.txt")

SEED_CASCADE = """\
Last command, is giving me error like:
*jenkins-setup/init-and-build.sh: line 50: cd: poky: No such file or directory
jenkins-setup/init-and-build.sh: line 53: oe-init-build-env: No such
file or directory
jenkins-setup/functions.sh: line 70: conf/bblayers.conf: No such file or
directory
"""


def test_at_least_15_patterns_with_unique_ids():
    assert len(PATTERNS) >= 15
    assert len({p.id for p in PATTERNS}) == len(PATTERNS)
    assert all(p.id.startswith("log.") for p in PATTERNS)


@pytest.mark.parametrize("pat", PATTERNS, ids=[p.id for p in PATTERNS])
def test_pattern_fires_on_its_error_text(pat, tmp_path, armvm):
    log = tmp_path / "build.log"
    log.write_text("NOTE: Executing Tasks\nsome noise\n" + pat.example + "\nNOTE: done\n")
    found = diagnose(log.read_text())
    assert found, pat.id
    assert pat.id in [f.id for f in found]
    f = next(f for f in found if f.id == pat.id)
    assert f.line_no >= 3 and f.cause and f.fix and "{" not in f.cause
    if not pat.cascade:
        assert found[0].id == pat.id or not found[0].cascade


def test_log_option_reads_a_file(tmp_path, armvm):
    log = tmp_path / "console-latest.log"
    log.write_text("\n".join(p.example for p in PATTERNS) + "\n")
    r = armvm("doctor", "--log", log, "--json")
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    got = {f["id"] for f in data["findings"]}
    assert got == {p.id for p in PATTERNS}
    r = armvm("doctor", "--log", log)
    assert "first cause" in r.stdout


def test_seed_cascade_is_explained_not_echoed():
    """The seed's report has only the cascade: explain the first symptom."""
    text = SEED.read_text() if SEED.exists() else SEED_CASCADE
    found = diagnose(text)
    assert found[0].id == "log.missing-checkout-cascade"
    assert "cd: poky: No such file or directory" in found[0].line
    assert "clone" in found[0].cause and "set -e" in found[0].cause
    assert [f.id for f in found][:3] == ["log.missing-checkout-cascade", "log.init-env-missing",
                                         "log.conf-missing"]


def test_real_cause_before_cascade():
    text = ("Initialized empty Git repository\n"
            "fatal: unable to connect to git.linaro.org:\n"
            "git.linaro.org[0: 1.2.3.4]: errno=Connection timed out\n" + SEED_CASCADE)
    found = diagnose(text)
    assert found[0].id == "log.git-unreachable"
    assert "git.linaro.org" in found[0].cause
    assert found[1].id == "log.missing-checkout-cascade" and found[1].cascade


def test_real_shell_cascade(tmp_path):
    """A setup script without 'set -e' whose git:// clone really fails."""
    script = tmp_path / "init-and-build.sh"
    script.write_text(
        "git clone git://127.0.0.1:9/poky.git poky\n"
        "cd poky\n"
        ". ./oe-init-build-env ../build\n"
        "cat conf/bblayers.conf\n"
        "bitbake core-image-minimal\n")
    p = subprocess.run(["bash", str(script)], cwd=tmp_path, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "LANG": "C"}, timeout=60)
    log = p.stdout + p.stderr
    assert "cd: poky: No such file or directory" in log
    found = diagnose(log)
    assert found[0].id == "log.git-unreachable", log
    assert [f.id for f in found if f.cascade][:2] == ["log.missing-checkout-cascade",
                                                     "log.init-env-missing"]


def test_unknown_error_falls_back_to_first_error_line():
    found = diagnose("NOTE: x\nERROR: something nobody has seen before\nERROR: second\n")
    assert [f.id for f in found] == ["log.first-error"]
    assert found[0].line_no == 2


def test_clean_log_has_no_findings():
    assert diagnose("NOTE: Tasks Summary: Attempted 4242 tasks of which 4242 didn't need "
                    "to be rerun and all succeeded.\n") == []


def test_ansi_and_crlf_are_ignored():
    found = diagnose("\x1b[31mERROR:\x1b[0m Nothing PROVIDES 'python3-foo'\r\n")
    assert found[0].id == "log.nothing-provides" and "python3-foo" in found[0].cause


@pytest.mark.poky
def test_real_bitbake_hosttools_error(tmp_path):
    """bitbake itself (as builder, PATH without chrpath): its error is
    recognised by the log scanner and predicted by host.hosttools."""
    import os
    import pwd
    import shutil
    import tempfile

    from armvm_oe.doctor import Context, facts
    from tests.doctor.conftest import fired, have_user

    poky = Path(os.environ.get("ARMVM_POKY_DIR", "/work/poky"))
    if not (poky / "bitbake" / "bin" / "bitbake").exists():
        pytest.skip("no poky checkout (set ARMVM_POKY_DIR)")
    if not have_user("builder"):
        pytest.skip("no builder user (.ci/setup.d/20-doctor.sh creates it)")
    tools, _ = facts.hosttools(Context(core_dir=poky))
    base = Path(tempfile.mkdtemp(prefix="doctor-bb-", dir="/tmp"))
    try:
        bindir = base / "bin"
        bindir.mkdir(parents=True)
        for t in tools:
            exe = shutil.which(t, path="/usr/sbin:/usr/bin:/sbin:/bin")
            if exe and t != "chrpath":
                (bindir / t).symlink_to(exe)
        uid = pwd.getpwnam("builder").pw_uid
        os.chown(base, uid, uid)
        base.chmod(0o755)
        env = {"PATH": str(bindir), "LANG": "en_US.UTF-8", "HOME": str(base)}
        assert fired(Context(env=env, core_dir=poky), "host.hosttools")
        script = f"cd {poky} && . ./oe-init-build-env {base}/build >/dev/null && bitbake -p"
        p = subprocess.run(["runuser", "-u", "builder", "--", "env", "-i",
                            *[f"{k}={v}" for k, v in env.items()], "bash", "-c", script],
                           capture_output=True, text=True, timeout=600)
        log = p.stdout + p.stderr
        found = diagnose(log)
        assert found and found[0].id == "log.hosttools", log
        assert "chrpath" in found[0].cause
    finally:
        subprocess.run(["rm", "-rf", str(base)])
