"""TODO"""

from __future__ import annotations

import re
from typing import Optional

from armvm_oe.doctor.logcatalogue._base import P, S


def _f_qa(g: dict, ctx) -> dict:
    check = g.get("check") or (ctx.forward(r"\[([a-z0-9-]+)\]\s*$", 8) if ctx else None)
    recipe = g.get("pkg") or g.get("from")
    if not recipe and ctx is not None:
        m = re.search(r" from (\S+) was ", ctx.model.lines[ctx.idx].text)
        recipe = m.group(1) if m else None
    if not recipe and g.get("recipe"):
        # PF (pn-pv-pr) -> pn
        recipe = re.sub(r"-\d[\w.+~]*(?:-[\w.+~]+)*?-r\d+(?:\.\d+)?$", "", g["recipe"])
    return {"check_label": f"[{check}]" if check else "that the log does not name",
            "recipe_label": f"recipe {recipe}" if recipe else "the recipe",
            "skip": (f'INSANE_SKIP:${{PN}} += "{check}"' if check else
                     "INSANE_SKIP for that check")}


PATTERNS = (
    P("log.qa-issue", "a QA check failed", "error", 3,
      r"(?:(?P<recipe>\S+) do_\w+: )?QA Issue: (?:(?P<pkg>[\w.+-]+): )?(?P<msg>.*?)"
      r"(?:\[(?P<check>[a-z0-9-]+)\])?\s*$|QA Issue: File '[^']+' from (?P<from>\S+)",
      "the QA check {check_label} failed for {recipe_label}: it installs or builds "
      "something the packaging rules reject (the QA message on this line says what)",
      "Fix {recipe_label} for the QA check {check_label} (see the 'QA Error and Warning "
      "Messages' reference); only if the result is intended, add {skip} to the recipe",
      "ERROR: glibc-2.23-r0 do_package: QA Issue: glibc: Files/directories were installed "
      "but not shipped in any package: [installed-vs-shipped]", ("QA Issue",),
      fields=_f_qa, phase="build"),
)
