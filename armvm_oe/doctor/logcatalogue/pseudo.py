"""TODO"""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S

PATTERNS = (
    P("log.pseudo-abort", "pseudo aborted (files changed outside pseudo)", "error", 3,
      r"abort\(\)ing pseudo client by server request|Pseudo_Abort|(?P<kind>path|inode|ino) "
      r"mismatch(?: \[\d+ links?\])?: ino \d+(?: db '(?P<db>[^']+)' req '(?P<req>[^']+)')?|"
      r"pseudo: (?P<kind2>path|inode) mismatch|(?P<kind3>inode) mismatch: '|"
      r"Check logfile: (?P<plog>\S+/pseudo/+pseudo\.log)",
      "pseudo's database and the files under WORKDIR disagree ({detail}): a file pseudo "
      "tracked was deleted or replaced outside pseudo (a task or host tool running without "
      "it, rm -rf by hand, or a TMPDIR reused after a pseudo update), so pseudo aborted",
      "bitbake -c clean <recipe> and rebuild (or delete TMPDIR, keeping sstate-cache); never "
      "edit WORKDIR by hand; if it recurs, find the task that touches those files without "
      "pseudo (see https://wiki.yoctoproject.org/wiki/Pseudo_Abort)",
      "abort()ing pseudo client by server request. See "
      "https://wiki.yoctoproject.org/wiki/Pseudo_Abort for more details on this.",
      ("abort()ing", "Pseudo_Abort", "mismatch", "pseudo.log"), phase="build",
      fields=lambda g, c: {"detail": (f"{g.get('kind') or 'path'} mismatch: database has "
                                      f"'{g['db']}', the request was for '{g['req']}'")
                           if g.get("db") else (f"{g.get('kind') or g.get('kind2') or g.get('kind3')}"
                                                " mismatch"
                                                if (g.get('kind') or g.get('kind2') or g.get('kind3'))
                                                else f"see {g.get('plog') or 'the recipe' + chr(39) + 's pseudo/pseudo.log'}")}),
)
