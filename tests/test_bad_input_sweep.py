"""The exit-code contract (docs/exit-codes.md) on bad paths: every
subcommand and every option that takes an input file, given a missing path,
a directory, a FIFO, /dev/zero, an empty file and an unreadable file
(as root: the CLI run as uid 65534), exits 2 with a one-paragraph error: no traceback, no hang,
never exit 0 or 1 (issue 15 item 5, issue 16)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KINDS = ["missing", "directory", "fifo", "devzero", "empty", "unreadable"]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """Valid companions for the options not under test."""
    from armvm_oe.testing.fixtures import build_image
    d = tmp_path_factory.mktemp("good")
    (d / "virt.dtb").write_bytes(bytes.fromhex("d00dfeed") + bytes(60))
    (d / "Image").write_bytes(bytes(0x38) + b"ARM\x64" + bytes(64))
    (d / "disk.wic").write_bytes(bytes(1 << 16))
    return {"image": build_image("aarch64"), "dir": d}


def _bad(kind: str, tmp: Path, suffix: str) -> Path:
    p = tmp / f"bad{suffix}"
    if kind == "missing":
        return p
    if kind == "directory":
        p.mkdir()
        return p
    if kind == "fifo":
        os.mkfifo(p)
        return p
    if kind == "devzero":
        return Path("/dev/zero")
    p.write_bytes(b"" if kind == "empty" else b"header:\n  version: 14\n")
    if kind == "unreadable":
        p.chmod(0)      # as root, the test runs the CLI as uid 65534 (see below)
    return p


# (name, argv builder(bad, good) , suffix for the bad file)
CASES = {
    "verify IMAGE": (lambda b, g: ["verify", b], ".wic"),
    "verify --kernel-config": (lambda b, g: ["verify", "--kernel-config", b, g["image"]], ""),
    "test IMAGE": (lambda b, g: ["test", "--quick", b], ".wic"),
    "run IMAGE": (lambda b, g: ["run", "--dry-run", b], ".wic"),
    "run --firmware": (lambda b, g: ["run", "--dry-run", "--firmware", b, g["image"]], ".fd"),
    "run --vars-template": (lambda b, g: ["run", "--dry-run", "--vars-template", b,
                                          g["image"]], ".fd"),
    "avh pack --kernel": (lambda b, g: _pack(g, kernel=b), ""),
    "avh pack --dtb": (lambda b, g: _pack(g, dtb=b), ""),
    "avh pack --storage": (lambda b, g: _pack(g, storage=b), ".wic"),
    "avh check ZIP": (lambda b, g: ["avh", "check", b], ".zip"),
    "export IMAGE": (lambda b, g: ["export", b, "--to", "qcow2", "-o",
                                   g["dir"] / "out" / "x.qcow2", "--force"], ".wic"),
    "checkout CONFIG": (lambda b, g: ["checkout", "--work-dir", g["dir"] / "w", b], ".yml"),
    "lock CONFIG": (lambda b, g: ["lock", b], ".yml"),
    "status CONFIG": (lambda b, g: ["status", b], ".yml"),
    "doctor CONFIG": (lambda b, g: ["doctor", "--only", "kas", b], ".yml"),
    "doctor --log": (lambda b, g: ["doctor", "--log", b], ".log"),
}


def _pack(g, kernel=None, dtb=None, storage=None):
    d = g["dir"]
    return ["avh", "pack", "--device", "rpi4b", "--kernel", kernel or d / "Image",
            "--dtb", dtb or d / "virt.dtb", "--storage", storage or d / "disk.wic",
            "-o", d / "out" / "fw.zip", "--force"]


class Hang(BaseException):
    """BaseException so no handler in the command can swallow it."""


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_path_exits_2(tmp_path, good, case, kind, monkeypatch, capsys, request):
    """In-process (cli.main, as the console script runs it) so the 78 cases
    cost no interpreter start each; an alarm turns a hang into a failure."""
    import signal

    from armvm_oe import cli

    build, suffix = CASES[case]
    bad = _bad(kind, tmp_path, suffix)
    if kind == "unreadable" and os.geteuid() == 0:
        return _as_nobody(request.getfixturevalue("other_user"), build(bad, good), tmp_path,
                          good)
    if kind == "empty" and case in ("checkout CONFIG", "lock CONFIG", "status CONFIG",
                                    "doctor CONFIG"):
        bad.write_bytes(b"")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("ARMVM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ARMVM_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)

    def alarm(signum, frame):
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    try:
        rc = cli.main([str(a) for a in build(bad, good)])
    except SystemExit as exc:          # argparse usage errors
        rc = exc.code
    except Hang:
        pytest.fail(f"armvm-oe {case} with a {kind} path hangs")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    err = capsys.readouterr().err
    assert rc == 2, (rc, err[-800:])
    assert "error:" in err


def _as_nobody(other_user, argv, tmp_path, good):
    """Root reads every file, so the unreadable case runs the real CLI as
    uid 65534 (an interpreter that user can read: tests/_otheruser.py), with
    the companions and the scratch dirs opened up for it."""
    import subprocess
    import shutil

    pub = tmp_path / "pub"
    pub.mkdir()
    img = pub / "good.wic"
    shutil.copyfile(good["image"], img)
    argv = [str(img) if str(a) == str(good["image"]) else str(a) for a in argv]
    for d in (good["dir"], tmp_path, *tmp_path.parents):
        if d != Path("/"):
            os.chmod(d, os.stat(d).st_mode | 0o005)
    for f in [img, *good["dir"].iterdir()]:
        os.chmod(f, os.stat(f).st_mode | 0o004)
    (good["dir"] / "out").mkdir(exist_ok=True)
    os.chmod(good["dir"] / "out", 0o777)
    env = other_user.env(dict(os.environ, NO_COLOR="1", HOME=str(pub),
                              ARMVM_DATA_DIR=str(pub / "data"), ARMVM_CACHE_DIR=str(pub / "c")))
    os.chmod(pub, 0o777)
    p = subprocess.run(other_user.cmd(argv, 65534, 65534), env=env, cwd=str(pub),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, (p.returncode, p.stderr[-800:])
    assert "error:" in p.stderr and "Traceback" not in p.stderr


def test_outputs_never_replace_an_input(tmp_path, good, monkeypatch, capsys):
    """'test --junit IMAGE' (and avh pack -o, tests/avh) is refused before
    any work, and the image is untouched."""
    import hashlib
    import shutil

    from armvm_oe import cli

    img = tmp_path / "disk.wic"
    shutil.copyfile(good["image"], img)
    before = hashlib.sha256(img.read_bytes()).hexdigest()
    monkeypatch.setenv("ARMVM_DATA_DIR", str(tmp_path / "data"))
    rc = cli.main(["test", "--quick", str(img), "--junit", str(img)])
    assert rc == 2 and "also an input" in capsys.readouterr().err
    assert hashlib.sha256(img.read_bytes()).hexdigest() == before
