"""Colour only on a terminal and never with NO_COLOR, no progress redraws off
a terminal: for EVERY subcommand (README "Every command has ...").

Each command runs three ways: on pipes without NO_COLOR, on a pty with
NO_COLOR, and on a plain pty - the control, which must show colour, so the
other two can fail. Most cases are the command's error path (the error line
is coloured by cli.py; every command has one); where a command colours its
own report cheaply (doctor, status) that report is run too. A command that
appears without an entry in CASES is run with a missing input path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _tty import ANSI, clean_env, on_pipes, on_tty

from armvm_oe import plugins

ROOT = Path(__file__).resolve().parent.parent
KAS = str(ROOT / "kas" / "armvm-aarch64.yml")

# name -> (argv after 'armvm-oe', extra environment, text the output must hold)
# '{tmp}' is the test's temporary directory; nothing there exists unless made.
CASES = {
    "avh": (["avh", "check", "{tmp}/missing.zip"], {}, "missing.zip"),
    "build": (["build", "{tmp}/missing.yml", "--host"], {}, "missing.yml"),
    "checkout": (["checkout", "{tmp}/missing.yml"], {}, "missing.yml"),
    "container": (["container", "build"], {"DOCKER_HOST": "unix://{tmp}/no-engine.sock"},
                  "container.engine-unreachable"),
    "doctor": (["doctor", KAS, "--work-dir", "{tmp}/work", "--only", "checkout,kas"], {},
               "checkout.missing-poky-cascade"),
    "export": (["export", "{tmp}/missing.wic", "--to", "qcow2"], {}, "missing.wic"),  # issue 18
    "instances": (["instances", "--reset-vars", "nope"], {}, "nope"),
    "lock": (["lock", "{tmp}/missing.yml"], {}, "missing.yml"),
    "run": (["run", "{tmp}/missing.wic"], {}, "missing.wic"),
    "status": (["status", "{tmp}/missing.yml"], {}, "missing.yml"),
    "status-report": (["status", KAS, "--work-dir", "{tmp}/work"], {}, "openembedded-core"),
    "test": (["test", "{tmp}/missing.wic"], {}, "missing.wic"),
    "verify": (["verify", "{tmp}/missing.wic"], {}, "missing.wic"),
}


def _cases():
    """The cases of the commands there are (a case for a command another
    branch adds is kept until it exists); a command without a case gets its
    missing-input error."""
    names = [m.NAME for m in plugins.discover()]
    for name in names:
        if name not in CASES:
            CASES[name] = ([name, "{tmp}/missing-input"], {}, "missing-input")
    return sorted(c for c, (args, _, _) in CASES.items() if args[0] in names)


@pytest.mark.parametrize("where", ["pipe", "tty+NO_COLOR", "tty"])
@pytest.mark.parametrize("case", _cases())
def test_colour_only_on_a_tty_without_no_color(case, where, tmp_path):
    args, extra, expect = CASES[case]
    (tmp_path / "work").mkdir()
    fill = lambda s: s.replace("{tmp}", str(tmp_path))          # noqa: E731
    argv = [sys.executable, "-m", "armvm_oe", *map(fill, args)]
    env = clean_env(no_color=where == "tty+NO_COLOR", ARMVM_DATA_DIR=str(tmp_path / "data"),
                    ARMVM_CACHE_DIR=str(tmp_path / "cache"),
                    **{k: fill(v) for k, v in extra.items()})
    if where == "pipe":
        rc, out, err = on_pipes(argv, env, tmp_path)
        text = out + err
        assert "\r" not in err, f"progress redraws on a pipe: {err[-500:]!r}"
    else:
        rc, text = on_tty(argv, env, tmp_path)
    assert rc != 0 and expect in text, (rc, text[-2000:])
    assert "Traceback" not in text, text[-2000:]
    if where == "tty":
        assert ANSI in text, f"no colour on a terminal without NO_COLOR: {text[-1000:]!r}"
    else:
        assert ANSI not in text, f"colour with {where}: {text[-1000:]!r}"


@pytest.mark.parametrize("args", [["verify", "{tmp}/missing.wic"], ["status", "{tmp}/missing.yml"]],
                         ids=["verify", "status"])
def test_debug_shows_the_traceback(args, tmp_path):
    """README: errors are one paragraph; --debug shows the traceback."""
    argv = [sys.executable, "-m", "armvm_oe", *[a.replace("{tmp}", str(tmp_path)) for a in args]]
    env = clean_env(no_color=True)
    rc, out, err = on_pipes(argv, env, tmp_path)
    assert rc == 2 and "Traceback" not in err and "error:" in err, err
    rc, out, err = on_pipes(argv[:3] + ["--debug"] + argv[3:], env, tmp_path)
    assert rc != 0 and "Traceback (most recent call last)" in err, err
