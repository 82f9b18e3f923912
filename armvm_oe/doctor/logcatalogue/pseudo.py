"""pseudo, the fakeroot of do_install/do_package/do_rootfs (git.yoctoproject.org/
pseudo; its source is not read by the tests, its messages are quoted from
pseudo_server.c / pseudo_client.c as users see them): aborts on a database
that disagrees with the files ("path mismatch"), and a server that cannot
start ("couldn't bind listening socket", "... aborting")."""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S, attach

PATTERNS = (
    P("log.pseudo-socket", "pseudo's server could not start", "error", 3,
      r"couldn't bind listening socket(?:: (?P<why>.+))?|couldn't (?:listen on|create) socket"
      r"(?:: (?P<why2>.+))?",
      "pseudo could not create its server socket in WORKDIR/pseudo/ ({why}): TMPDIR is on a "
      "filesystem without unix sockets (a Docker-for-Windows/macOS bind mount, 9p, NFS, "
      "SMB), or its path is too long for a socket (108 bytes)",
      "Put TMPDIR on a native Linux filesystem (a docker named volume, WSL2's ext4 instead "
      "of /mnt/c) with a shorter path",
      "pseudo: couldn't bind listening socket: Operation not permitted",
      ("couldn't bind listening socket", "couldn't listen on socket", "couldn't create socket"),
      phase="build",
      fields=lambda g, c: {"why": (g.get("why") or g.get("why2") or "no reason given").strip()}),
    P("log.pseudo-socket.abort", "pseudo gave up", "error", 2,
      r"(?P<msg>pseudo[\w ]*: .*\baborting\b.*)",
      "pseudo could not run and aborted: {msg}",
      "Read WORKDIR/pseudo/pseudo.log; a pseudo server that cannot start is most often a "
      "TMPDIR on a filesystem without unix sockets; an inconsistent database needs "
      "bitbake -c clean <recipe>",
      "pseudo: PSEUDO_PREFIX unset, aborting.", ("aborting",), family="log.pseudo-socket",
      phase="build"),
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

SOURCES = {
    "log.pseudo-socket": (S("pseudo", "pseudo_server.c", "couldn't bind listening socket: %s"),),
    "log.pseudo-socket.abort": (S("pseudo", "pseudo_client.c", "pseudo: %s, aborting."),),
    "log.pseudo-abort": (S("pseudo", "pseudo_client.c", "abort()ing pseudo client by server "
                           "request. See https://wiki.yoctoproject.org/wiki/Pseudo_Abort for "
                           "more details on this."),
                         S("pseudo", "pseudo_db.c", "path mismatch [%d link]: ino %d db '%s' "
                           "req '%s'.", "path mismatch [1 link]: ino 123 db '/a' req '/b'.")),
}

PATTERNS = attach(PATTERNS, SOURCES)
