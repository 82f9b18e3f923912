"""Read the messages bitbake, oe-core and kas print, from their source at
the supported versions (the fetched mirrors: ARMVM_MIRRORS, default
/work/.mirror, layout <owner>+<name>/repo; kas: the installed kas package,
else the kas mirror's newest 5.x tag). Used by test_catalogue_sources.py.

Messages are found as string literals in the calls that print or raise
them (bb.fatal/bb.error/bb.warn/logger.error/.../raise X(...), and
package_qa/handle_error for QA checks), and rendered with sample values
(:func:`render`)."""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
import subprocess
from pathlib import Path

MIRRORS = Path(os.environ.get("ARMVM_MIRRORS", "/work/.mirror"))
REPOS = {"bitbake": "openembedded+bitbake", "oe-core": "openembedded+openembedded-core",
         "kas": "siemens+kas"}
VERSIONS = {"scarthgap": "yocto-5.0.19", "wrynose": "yocto-6.0.2"}


def git_dir(repo: str) -> Path:
    return MIRRORS / REPOS[repo] / "repo"


def missing() -> list:
    return [str(git_dir(r)) for r in ("bitbake", "oe-core") if not git_dir(r).is_dir()]


@functools.lru_cache(maxsize=None)
def kas_root() -> tuple:
    """(label, reader) of the kas source: the installed kas (5.x), else the
    mirror's newest 5.x tag."""
    spec = importlib.util.find_spec("kas")
    if spec and spec.origin:
        root = Path(spec.origin).parent
        ver = re.search(r"__version__ = '([^']+)'", (root / "__version__.py").read_text())
        if ver and ver.group(1).startswith("5."):
            return (f"kas {ver.group(1)} (installed)", str(root.parent))
    if git_dir("kas").is_dir() and _kas_mirror_tag():
        tag = _kas_mirror_tag()
        return (f"kas {tag} (mirror)", f"git:{tag}")
    return ("", "")


def _kas_mirror_tag() -> str:
    tags = subprocess.run(["git", f"--git-dir={git_dir('kas')}", "tag", "-l", "5.*"],
                          capture_output=True, text=True).stdout.split()
    return max(tags, key=lambda t: [int(x) for x in re.findall(r"\d+", t)]) if tags else ""


@functools.lru_cache(maxsize=None)
def read(repo: str, ref: str, path: str) -> str:
    """One file at one version ('' when it does not exist there). kas's
    kas-container (not in the Python package) comes from the mirror."""
    if repo == "kas" and path == "kas-container" and git_dir("kas").is_dir():
        ref = "git:" + _kas_mirror_tag()
    if repo == "kas" and not ref.startswith("git:"):
        p = Path(ref) / path
        return p.read_text(errors="replace") if p.is_file() else ""
    rev = ref[4:] if ref.startswith("git:") else ref
    p = subprocess.run(["git", f"--git-dir={git_dir(repo)}", "show", f"{rev}:{path}"],
                       capture_output=True, text=True, errors="replace")
    return p.stdout if p.returncode == 0 else ""


@functools.lru_cache(maxsize=None)
def ls(repo: str, ref: str, under: str) -> tuple:
    if repo == "kas" and not ref.startswith("git:"):
        base = Path(ref)
        if (base / under).is_file() or under == "kas-container":
            return (under,)
        return tuple(str(p.relative_to(base)) for p in sorted((base / under).rglob("*"))
                     if p.is_file())
    rev = ref[4:] if ref.startswith("git:") else ref
    p = subprocess.run(["git", f"--git-dir={git_dir(repo)}", "ls-tree", "-r", "--name-only",
                        rev, under], capture_output=True, text=True)
    return tuple(p.stdout.split())


def refs(repo: str) -> list:
    if repo == "kas":
        r = kas_root()[1]
        return [r] if r else []
    return list(VERSIONS.values())


_PLACE = re.compile(r"%\([\w]+\)[sdrif]|%-?\d*(?:\.\d+)?[sdrifx]|\{[^{}]*\}")


def render(msg: str) -> str:
    """A format string as printed, with sample values."""
    def one(m):
        s = m.group(0)
        if s.endswith("d") or s.endswith("i"):
            return "1"
        if s.endswith("f"):
            return "1.0"
        if s.endswith("r"):
            return "'foo'"
        return "foo"
    return _PLACE.sub(one, msg.replace("\\n", "\n")).replace("%%", "%")


def chunks(msg: str) -> list:
    """The literal parts of a format string, longest first."""
    return sorted((c for c in _PLACE.split(msg) if c.strip()), key=len, reverse=True)


def _literal(node) -> str | None:
    """A string literal, a concatenation of them, an f-string (placeholders
    as {}), or 'literal' % args: its format text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _literal(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = _literal(node.left), _literal(node.right)
        if a is not None or b is not None:
            return (a if a is not None else "{}") + (b if b is not None else "{}")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr == "format":
        return _literal(node.func.value)
    return None


def _name(func) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    if isinstance(func, ast.Name):
        return func.id
    return ""


def calls(source: str, names: tuple) -> list:
    """[(callee, message)] of calls whose name ends with one of ``names``
    (e.g. 'bb.fatal', 'logger.error', 'FetchError') and whose first
    argument is a literal. Python source; for .bbclass files the python
    functions are cut out first (see :func:`python_of_bbclass`)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            n = _name(node.func)
            if n.endswith(names) and node.args:
                lit = _literal(node.args[0])
                if lit:
                    out.append((n, lit))
    return out


def python_of_bbclass(text: str) -> str:
    """The python functions of a .bbclass as one module (def ... and
    python name () { ... } blocks), dedented enough to parse."""
    out, body = [], None
    for line in text.split("\n"):
        m = re.match(r"^python (\w[\w-]*)\s*\(\)\s*\{\s*$", line)
        if m:
            body = [f"def {m.group(1).replace('-', '_')}(d):"]
            continue
        if body is not None:
            if line.startswith("}"):
                out.extend(body if len(body) > 1 else body + ["    pass"])
                body = None
            else:
                body.append("    " + line if line.strip() else "")
            continue
    # plain 'def' functions
    defs, cur = [], None
    for line in text.split("\n"):
        if line.startswith("def "):
            cur = [line]
            defs.append(cur)
        elif cur is not None:
            if line and not line[0].isspace():
                cur = None
            else:
                cur.append(line)
    src = "\n".join(out + [ln for d in defs for ln in d])
    try:
        ast.parse(src)
        return src
    except SyntaxError:
        # fall back: each block on its own
        ok = []
        for d in defs:
            s = "\n".join(d)
            try:
                ast.parse(s)
                ok.append(s)
            except SyntaxError:
                pass
        return "\n".join(ok)


def returned_and_appended(source: str, names: tuple = ("messages", "message", "msg")) -> list:
    """String literals a function returns, or appends to a message variable
    (sanity.bbclass builds its messages so)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Return) and node.value is not None:
            lit = _literal(node.value)
            if lit and lit.strip() and lit.strip() != "{}":
                out.append(lit)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            tgt = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(tgt, ast.Name) and tgt.id in names:
                v = node.value
                if isinstance(v, ast.BinOp) and isinstance(v.op, ast.Add) and \
                        isinstance(v.left, ast.Name):
                    v = v.right
                lit = _literal(v)
                if lit and lit.strip() and lit.strip() != "{}":
                    out.append(lit)
    return out


def sanity_messages() -> dict:
    """{message format: [versions]} of oe-core's sanity checker."""
    out: dict = {}
    for name, ref in VERSIONS.items():
        src = python_of_bbclass(read("oe-core", ref, "meta/classes-global/sanity.bbclass"))
        msgs = [m for _, m in calls(src, ("addresult", "bb.fatal", "bb.warn", "bb.error",
                                          "raise_sanity_error"))]
        msgs += returned_and_appended(src)
        for m in msgs:
            if len(m.strip()) >= 12 and not m.strip().startswith("{}"):
                out.setdefault(m, []).append(name)
    return out


def strings(source: str) -> list:
    """Every string literal of a Python source (implicit concatenation
    joined by the parser; f-strings with {} for their fields)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            out.append(_literal(node))
    return out


def raises(source: str, classes: tuple) -> list:
    """[(class, [literal args or None])] of ``raise Cls(...)`` / ``raise
    x.y.Cls(...)``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            n = _name(node.exc.func).rsplit(".", 1)[-1]
            if n in classes:
                out.append((n, [_literal(a) for a in node.exc.args]))
    return out
