"""Generate real git repositories for the checkout tests and benchmark.

``git fast-import`` writes thousands of commits in a second or two. Blob
content is pseudo-random (seeded, so a given spec always gives the same
commit ids) and therefore incompressible: the repository's size on disk and
on the wire is what the spec says.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from pathlib import Path

ENV = {"GIT_AUTHOR_NAME": "armvm-oe test", "GIT_AUTHOR_EMAIL": "test@armvm-oe.invalid",
       "GIT_COMMITTER_NAME": "armvm-oe test", "GIT_COMMITTER_EMAIL": "test@armvm-oe.invalid"}


def git(*args, cwd=None, check=True) -> str:
    env = dict(os.environ, **ENV)
    return subprocess.run(["git", *map(str, args)], cwd=cwd, env=env, check=check,
                          capture_output=True, text=True).stdout.strip()


def make_bare(path: Path, *, branch: str = "main", commits: int = 3, files: int = 4,
              blob_size: int = 256, changes_per_commit: int = 1, seed: str = "x",
              layers: tuple[str, ...] = ("meta-test",), init_script: bool = False,
              allow_sha_want: bool = True) -> Path:
    """A bare repo at ``path`` with ``commits`` commits on ``branch``.

    The tree holds ``files`` data files of ``blob_size`` bytes; each commit
    rewrites ``changes_per_commit`` of them, so the history is about
    ``commits * changes_per_commit * blob_size`` bytes and a depth-1 fetch
    about ``files * blob_size``. Each name in ``layers`` gets a
    ``conf/layer.conf``; ``init_script`` adds a minimal ``oe-init-build-env``
    (what kas sources to set up the build dir)."""
    path = Path(path)
    git("init", "-q", "--bare", "-b", branch, path)
    rnd = random.Random(seed)
    lines: list[bytes] = []
    w = lines.append
    mark = 0

    static = {}
    for layer in layers:
        static[f"{layer}/conf/layer.conf"] = (
            f'BBPATH .= ":${{LAYERDIR}}"\nBBFILE_COLLECTIONS += "{layer}"\n'
            f'BBFILE_PATTERN_{layer} = "^${{LAYERDIR}}/"\n').encode()
    if init_script:
        static["oe-init-build-env"] = (b'# test stand-in: kas sources this with the build dir\n'
                                       b'mkdir -p "${1:-build}/conf"\ncd "${1:-build}"\n')
    t = 1_700_000_000
    for i in range(commits):
        w(b"commit refs/heads/%s\n" % branch.encode())
        mark += 1
        cmark = mark
        w(b"mark :%d\n" % cmark)
        w(b"committer armvm-oe test <test@armvm-oe.invalid> %d +0000\n" % (t + i))
        msg = f"commit {i}\n".encode()
        w(b"data %d\n%s\n" % (len(msg), msg))
        if i == 0:
            for name, data in static.items():
                w(b"M 644 inline %s\ndata %d\n" % (name.encode(), len(data)))
                w(data + b"\n")
            targets = range(files)
        else:
            targets = [rnd.randrange(files) for _ in range(changes_per_commit)]
        for f in targets:
            data = rnd.randbytes(blob_size) if blob_size else b""
            data = hashlib.sha256(data).hexdigest().encode() + data
            w(b"M 644 inline data/file%04d.bin\ndata %d\n" % (f, len(data)))
            w(data + b"\n")
        w(b"\n")
    stream = b"".join(lines) + b"done\n"
    subprocess.run(["git", "fast-import", "--quiet", "--done"], input=stream, cwd=path,
                   check=True, env=dict(os.environ, **ENV), capture_output=True)
    if allow_sha_want:
        git("config", "uploadpack.allowReachableSHA1InWant", "true", cwd=path)
        git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=path)
    return path


def add_commit(bare: Path, branch: str, msg: str = "new commit") -> str:
    """Append a commit to ``branch`` of a bare repo; returns its id."""
    tree = git("rev-parse", f"{branch}^{{tree}}", cwd=bare)
    parent = git("rev-parse", branch, cwd=bare)
    sha = git("commit-tree", tree, "-p", parent, "-m", msg, cwd=bare)
    git("update-ref", f"refs/heads/{branch}", sha, cwd=bare)
    return sha


def head(bare: Path, ref: str = "HEAD") -> str:
    return git("rev-parse", ref, cwd=bare)
