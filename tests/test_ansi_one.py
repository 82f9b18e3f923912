"""One definition of a terminal escape sequence (ui.ANSI_RE), used by every
reader that strips them: doctor's log model, the build's progress parser and
log reader, the QEMU console and the shell probe, and ui.table's width. The
three earlier copies differed (only doctor's knew OSC, buildlog's missed
ESC[?25l); the table shows what each caller now strips."""

from __future__ import annotations

import pytest

from armvm_oe import ui
from armvm_oe.doctor import logmodel
from armvm_oe.imagebuild import buildlog, progress
from armvm_oe.qemu import console, probe

CASES = [
    ("\x1b[1;31mERROR:\x1b[0m x", "ERROR: x"),               # SGR (bitbake's colours)
    ("\x1b[?25lNOTE: x\x1b[?25h", "NOTE: x"),                # cursor hide/show (tqdm, kas)
    ("\x1b[2KNOTE: x", "NOTE: x"),                           # erase line
    ("\x1b]8;;https://e.invalid\x07link\x1b]8;;\x07 x", "link x"),   # OSC 8, BEL-terminated
    ("\x1b]0;title\x1b\\NOTE: x", "NOTE: x"),               # OSC, ST-terminated
    ("\x1b[38;5;196mred\x1b[m", "red"),
]


def test_one_definition():
    assert logmodel._ANSI is progress._ANSI is buildlog._ANSI is console.ANSI_RE \
        is probe.ANSI_RE is ui.ANSI_RE


@pytest.mark.parametrize("raw,clean", CASES)
def test_every_reader_strips_the_same(raw, clean):
    assert logmodel.normalise(raw)[0] == clean
    assert progress.clean(raw) == clean
    assert probe.ANSI_RE.sub("", raw) == clean
    assert ui.table([[ui.Safe(raw)]]) == ui.Safe(raw)            # width: codes not counted
    assert len(ui.table([[ui.Safe(raw), "|"]]).split("|")[0]) == len(raw) + 2
