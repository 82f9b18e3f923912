"""Read a kas project configuration the way kas 5.x does.

This is the one reader of kas files in armvm-oe (checkout, lock, status,
doctor and build import it). It does not invent a format: every file is
validated against kas's own JSON schema (``kas.configschema.CONFIGSCHEMA``)
and the header version range kas accepts, includes are resolved and merged
with kas's rules, and each file's lock file (``<stem>.lock<suffix>`` next to
it) is loaded right after it, as ``kas.includehandler`` does.

On top of kas's checks it refuses what kas only warns about or lets through
(a commit that is not a full 40-hex id) and warns about ``git://`` URLs.
Errors are :class:`armvm_oe.errors.InputError` with the file and line.

Pure functions only: no network, no git writes. The only subprocess is a
read-only ``git rev-parse --show-toplevel`` to find the repository that holds
the configuration (kas's include root and the path of ``url``-less repos).
"""

from __future__ import annotations

import copy
import logging
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from armvm_oe.errors import InputError
from armvm_oe import kasrules
from armvm_oe.lib import yaml_compose_bounded

log = logging.getLogger(__name__)

HEX40 = re.compile(r"^[0-9a-f]{40}$")
KAS_DOCS = "https://kas.readthedocs.io/en/latest/userguide/project-configuration.html"
DEFAULT_LAYER_PRIO = 0  # kas: CONFIGSCHEMA $defs.layerPrio.prio.default (read at runtime)


# --------------------------------------------------------------------------
# data model

@dataclass
class RepoSpec:
    """One entry of ``repos:`` after includes, defaults and lock overrides."""

    id: str
    url: str | None
    path: Path
    commit: str | None = None
    branch: str | None = None
    tag: str | None = None
    layers: list[str] = field(default_factory=list)
    is_local: bool = False
    name: str = ""
    layer_prio: dict[str, int] = field(default_factory=dict)
    locked: bool = False             # commit came from a lock file (overrides)
    config_commit: str | None = None  # commit written in the config itself
    source: Path | None = None        # file that (last) defined the repo
    refspec: str | None = None        # legacy 'refspec:' (after a lock override)
    type: str = "git"                 # 'git' or 'hg' (kas: repos.<id>.type)
    patches: list[dict] = field(default_factory=list)  # kas order: sorted by patch id
    signed: bool = False
    allowed_signers: list[str] | None = None

    @property
    def tag_name(self) -> str | None:
        """The tag without a leading ``refs/tags/`` (kas accepts both)."""
        if not self.tag:
            return None
        t = self.tag[len("refs/"):] if self.tag.startswith("refs/") else self.tag
        return t[len("tags/"):] if t.startswith("tags/") else t

    @property
    def pin(self) -> str | None:
        """What the checkout must end at: the commit (else tag, else branch)."""
        return self.commit or self.tag or self.branch

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "url": self.url, "path": str(self.path),
                "commit": self.commit, "branch": self.branch, "tag": self.tag,
                "layers": self.layers, "is_local": self.is_local, "locked": self.locked,
                "refspec": self.refspec, "type": self.type, "patches": self.patches,
                "signed": self.signed}


@dataclass
class KasProject:
    config_files: list[Path]
    lock_file: Path | None
    header_version: int
    machine: str | None
    distro: str | None
    target: list[str]
    repos: list[RepoSpec]
    work_dir: Path
    build_dir: Path
    top_repo_path: Path = Path(".")
    lock_files: list[Path] = field(default_factory=list)
    missing_includes: list[str] = field(default_factory=list)  # repo ids not on disk
    config: dict = field(default_factory=dict)                 # merged, as kas sees it
    warnings: list[str] = field(default_factory=list)
    top_files: list[Path] = field(default_factory=list)        # as given (':'-split)

    def repo(self, repo_id: str) -> RepoSpec:
        for r in self.repos:
            if r.id == repo_id:
                return r
        raise KeyError(repo_id)

    @property
    def remote_repos(self) -> list[RepoSpec]:
        """Repos armvm-oe/kas clone (those with a URL)."""
        return [r for r in self.repos if r.url]

    def bblayers(self) -> list[Path]:
        """All layer directories, in the order kas writes them to bblayers.conf."""
        return bblayers(self)


# --------------------------------------------------------------------------
# kas schema and version range

def _schema() -> tuple[dict, int, int]:
    try:
        from kas.configschema import CONFIGSCHEMA  # noqa: WPS433
    except ImportError as exc:  # pragma: no cover - kas is a hard dependency
        raise InputError("kas is not installed, so kas configurations cannot be validated",
                         str(exc), "Install armvm-oe with its dependencies: pip install -e .")
    version = CONFIGSCHEMA["properties"]["header"]["properties"]["version"]["anyOf"][1]
    return CONFIGSCHEMA, int(version["minimum"]), int(version["maximum"])


def kas_version() -> str:
    from kas import __version__
    return __version__


# --------------------------------------------------------------------------
# YAML with line numbers

def _line_of(root: yaml.Node | None, path: list) -> int | None:
    """Line (1-based) of the node at ``path`` (keys / indexes) in a composed tree;
    the deepest existing ancestor's line if the path is not fully present."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in path:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) \
                and key < len(node.value):
            nxt = node.value[key]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


@dataclass
class _File:
    path: Path
    data: dict
    tree: Any
    is_lockfile: bool = False
    text: str = ""

    def where(self, *keys) -> str:
        line = _line_of(self.tree, list(keys))
        return f"{self.path}:{line}" if line else str(self.path)


def _read_file(path: Path, is_lockfile: bool = False) -> _File:
    what = "lock file" if is_lockfile else "kas configuration"
    if path.suffix not in (".yml", ".yaml", ".json"):
        raise InputError(f"{path} is not a kas configuration file",
                         "kas reads only .yml, .yaml and .json files",
                         "Pass the path of a kas YAML file, e.g. kas/armvm-aarch64.yml")
    if path.exists() and not path.is_file():          # a FIFO would block the read
        raise InputError(f"The {what} {path} is not a regular file",
                         "only regular files are read (a pipe or device could block)",
                         "Pass the path of a kas YAML file, e.g. kas/armvm-aarch64.yml")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"The {what} {path} does not exist",
                         "The path is wrong or the file was not checked out",
                         "Check the path (configs live in kas/, e.g. kas/armvm-aarch64.yml)")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"The {what} {path} cannot be read", str(exc),
                         "Check the file's permissions and encoding (UTF-8)")
    try:
        tree = yaml_compose_bounded(text, str(path))      # alias bombs, before loading
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}: the {what} is not valid YAML ({problem})",
                         f"kas would stop with \"Configuration file is not valid YAML: Error in "
                         f"line {mark.line + 1 if mark else '?'}\"",
                         "Fix the indentation or quoting on that line (YAML uses spaces, "
                         "not tabs) and run the command again")
    if not isinstance(data, dict):
        raise InputError(f"{path}: the {what} does not contain a mapping",
                         "A kas file is a YAML mapping with at least 'header: version:'",
                         f"See {KAS_DOCS} for the format")
    f = _File(path, data, tree, is_lockfile, text)
    _validate(f)
    return f


def _schema_cache_key(text: str) -> Path | None:
    """A marker file for "this exact text passed kas <version>'s schema".

    jsonschema is the slowest import on the warm ``checkout`` path; a file that
    validated before (same bytes, same kas) need not be validated again. Our
    own checks (commit ids, URLs) always run."""
    try:
        from armvm_oe.lib import cache_dir
        import hashlib
        h = hashlib.sha256(f"{kas_version()}\0{text}".encode()).hexdigest()
        return cache_dir() / "kas-schema-ok" / h
    except Exception:  # noqa: BLE001 - a cache is optional
        return None


def _validate(f: _File) -> None:
    schema, vmin, vmax = _schema()
    if isinstance(f.data.get("header"), Mapping):
        kasrules.header_version_string(f.where("header", "version"),
                                       f.data["header"].get("version"))
    marker = _schema_cache_key(f.text)
    if marker is not None and marker.exists():
        _own_checks(f)
        return
    from jsonschema.validators import validator_for

    validator = validator_for(schema)(schema)
    raw = (f.data.get("header") or {}).get("version") if isinstance(f.data.get("header"), Mapping) else None
    version = 1 if raw == "0.10" else raw
    if isinstance(version, int) and not isinstance(version, bool) and not vmin <= version <= vmax:
        raise InputError(f"{f.where('header', 'version')}: header version {version} is not "
                         f"supported by kas {kas_version()}",
                         f"This kas reads format versions {vmin} to {vmax} (kas: \"This version "
                         f"of kas is compatible with version {vmin} to {vmax}, file has version "
                         f"{version}\")",
                         "Use a header version in that range, or install the kas version "
                         "pinned in pyproject.toml (pip install -e .)")
    errors = sorted(validator.iter_errors(f.data), key=lambda e: (list(e.absolute_path), str(e)))
    if errors:
        err = errors[0]
        path = list(err.absolute_path)
        # "Additional properties are not allowed ('x' was unexpected)": point at key x
        m = re.search(r"\('([^']+)' (?:was|were) unexpected", err.message)
        if m and err.validator == "additionalProperties":
            path = path + [m.group(1)]
            dotted = ".".join(str(p) for p in path)
            problem = f"unknown key '{dotted}'"
        elif err.validator == "anyOf" and err.context:
            best = max(err.context, key=lambda e: len(e.absolute_path))
            m2 = re.search(r"\('([^']+)' (?:was|were) unexpected", best.message)
            if m2 and best.validator == "additionalProperties":
                path = list(best.absolute_path) + [m2.group(1)]
                problem = f"unknown key '{'.'.join(str(p) for p in path)}'"
            else:
                path = list(best.absolute_path)
                problem = f"{'.'.join(map(str, path)) or 'top level'}: {best.message}"
        else:
            problem = f"{'.'.join(map(str, path)) or 'top level'}: {err.message}"
        more = f" (and {len(errors) - 1} more schema error(s))" if len(errors) > 1 else ""
        raise InputError(f"{f.where(*path)}: {problem}{more}",
                         f"The file does not match kas {kas_version()}'s configuration schema "
                         "(kas would stop with \"Config file validation Error\")",
                         f"Fix or remove that entry; the allowed keys are listed at {KAS_DOCS}")
    _own_checks(f)
    if marker is not None:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass


def _own_checks(f: _File) -> None:
    # commits: kas's schema accepts any string; a pin must be a full id
    for rid, rc in (f.data.get("repos") or {}).items():
        if isinstance(rc, Mapping) and rc.get("commit") is not None:
            _check_commit(f, rc["commit"], ("repos", rid, "commit"), rid)
    for rid, rc in ((f.data.get("overrides") or {}).get("repos") or {}).items():
        if isinstance(rc, Mapping) and rc.get("commit") is not None:
            _check_commit(f, rc["commit"], ("overrides", "repos", rid, "commit"), rid)
    for rid, rc in (f.data.get("repos") or {}).items():
        if isinstance(rc, Mapping) and isinstance(rc.get("url"), str):
            _check_url(f, rc["url"], ("repos", rid, "url"), rid)


def _check_commit(f: _File, commit: Any, path: tuple, rid: str) -> None:
    if isinstance(commit, str) and HEX40.match(commit):
        return
    raise InputError(f"{f.where(*path)}: repo '{rid}' has commit '{commit}', which is not a "
                     "full 40-character lowercase hexadecimal commit id",
                     "A pin must name exactly one commit; short ids, tags and branch names "
                     "are ambiguous or mutable",
                     "Put the full id there (git rev-parse <ref>), put tags/branches under "
                     "'tag:'/'branch:', or run 'armvm-oe lock --update' to write the lock file")


def git_url_warning(url: str) -> str | None:
    if url.startswith("git://"):
        https = "https://" + url[len("git://"):]
        if "git.yoctoproject.org" in url and "/git/" not in url:
            https = https.replace("git.yoctoproject.org/", "git.yoctoproject.org/git/", 1)
        return (f"{url} uses the unauthenticated git:// protocol, which GitHub and "
                f"git.yoctoproject.org have disabled (and firewalls often block port 9418); "
                f"use {https} instead")
    return None


def _check_url(f: _File, url: str, path: tuple, rid: str) -> None:
    msg = git_url_warning(url)
    if msg:
        log.warning("%s: repo '%s': %s", f.where(*path), rid, msg)


# --------------------------------------------------------------------------
# includes and merge (kas.includehandler semantics)

def lock_file_for(config: Path) -> Path:
    """``<dir>/<stem>.lock<suffix>``: the lock file kas loads after ``config``."""
    config = Path(config)
    return config.parent / (config.stem + ".lock" + config.suffix)


def repo_root(path: Path) -> Path:
    """The git work tree holding ``path`` (superproject for submodules), else ``path``."""
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel",
                              "--show-superproject-working-tree"],
                             cwd=path, capture_output=True, text=True, check=False)
    except (FileNotFoundError, NotADirectoryError):
        return Path(path)
    if out.returncode == 0 and out.stdout.strip():
        return Path(sorted(out.stdout.strip().split("\n"))[0])
    if "dubious ownership" in out.stderr:
        # Falling back to ``path`` would resolve includes and the local repo
        # against the wrong top directory and fail later with a confusing
        # "missing file" error; kas itself would pick the wrong directory too.
        raise InputError(
            f"git refuses to read the repository holding {path}: it is owned by another user",
            "git's safe.directory protection ('detected dubious ownership'); without git the "
            "repository's top directory, and so the kas include paths, cannot be found",
            f"Run the command as the repository's owner, or trust it with: "
            f"git config --global --add safe.directory {repo_root_guess(path)}")
    return Path(path)


def repo_root_guess(path: Path) -> Path:
    """The nearest parent holding ``.git`` (for the safe.directory hint only)."""
    p = Path(path).resolve()
    for cand in (p, *p.parents):
        if (cand / ".git").exists():
            return cand
    return p


def _merge(dest: Mapping, upd: Mapping) -> dict:
    """kas's recursive dict merge: ``upd`` wins, mappings are merged key by key."""
    dest = dict(dest)
    for key, val in upd.items():
        if isinstance(dest.get(key), Mapping) and isinstance(val, Mapping):
            dest[key] = _merge(dest[key], val)
        else:
            dest[key] = val
    return dest


def _inside(base: Path, include: str) -> Path:
    cand = (base / include).resolve()
    if not cand.is_relative_to(base.resolve()):
        raise InputError(f"The include {include} resolves outside the repository {base}",
                         "kas only includes files from inside a repository",
                         "Move the included file into the repository")
    return cand


def _load_tree(path: Path, repo_path: Path, work_dir: Path, repo_paths: dict[str, Path],
               seen: list[Path], missing: list[str], is_lockfile=False) -> list[_File]:
    """kas's ``_internal_include_handler``: ``repo_path`` is the root of the
    repository holding ``path``; string includes in it are resolved against
    that root (not the top repo's), so a file included from another repo
    includes its own siblings, as in kas."""
    path = Path(path).absolute()
    if path in seen:
        raise InputError(f"{path} includes itself (via {' -> '.join(p.name for p in seen)})",
                         "The include chain loops", "Remove the circular include")
    seen = seen + [path]
    cur = _read_file(path, is_lockfile)
    files: list[_File] = []
    lock = lock_file_for(path)
    if lock.exists() and not is_lockfile:
        files.extend(_load_tree(lock, repo_path, work_dir, repo_paths, seen, missing, True))
    for n, inc in enumerate(cur.data.get("header", {}).get("includes", []) or []):
        if isinstance(inc, str):
            incfile = _inside(repo_path, inc)
            if not incfile.exists():
                alt = _inside(path.parent, inc)
                if alt.exists():
                    log.info("%s: include '%s' resolved relative to the file (kas warns: use "
                             "repo-relative paths)", cur.where("header", "includes", n), inc)
                    incfile = alt
            if not incfile.exists():
                raise InputError(f"{cur.where('header', 'includes', n)}: the included file "
                                 f"'{inc}' does not exist",
                                 f"kas resolves includes relative to the root of the "
                                 f"repository holding the including file ({repo_path})",
                                 "Fix the include path")
            files.extend(_load_tree(incfile, repo_path, work_dir, repo_paths, seen, missing))
        else:
            rid = inc["repo"]
            rdir = repo_paths.get(rid)
            if rdir is not None and Path(rdir).is_dir():
                base = Path(rdir).absolute()
                files.extend(_load_tree(_inside(base, inc["file"]), base,
                                        work_dir, repo_paths, seen, missing))
            elif rid not in missing:
                missing.append(rid)
    files.append(cur)
    return files


# --------------------------------------------------------------------------
# public API

def default_work_dir() -> Path:
    return Path(os.environ.get("KAS_WORK_DIR") or os.getcwd()).absolute()


def split_configs(path: str | os.PathLike | list) -> list[Path]:
    """kas accepts several configs separated by ':' (later ones override)."""
    if isinstance(path, (list, tuple)):
        return [Path(p).absolute() for p in path]
    return [Path(p).absolute() for p in str(path).split(":") if p]


def load_config(path: str | os.PathLike | list, work_dir: str | os.PathLike | None = None,
                use_lock: bool = True,
                include_repos: Mapping[str, Path] | None = None) -> KasProject:
    """Read ``path`` with its includes and lock files into a :class:`KasProject`.

    ``path`` may name several files separated by ':' (or be a list), as on
    kas's command line; they must live in the same repository.

    ``work_dir`` defaults to ``$KAS_WORK_DIR`` or the current directory, as in
    kas; the build dir to ``$KAS_BUILD_DIR`` or ``<work_dir>/build``. Includes
    from other repositories (``repo:``/``file:``) are read when that repo is
    already checked out in the work dir, else listed in ``missing_includes``.

    ``include_repos`` (repo id -> checked-out path) says exactly which repos
    may be read for ``repo:`` includes, as kas's ``find_missing_repos`` does
    (checkout passes the repos it has already moved to their pins; a repo at
    a stale commit must not contribute its include file). Without it
    (read-only callers: status, doctor, build) every declared repo whose
    directory exists is read, iterating until no new one appears.
    """
    tops = split_configs(path)
    if not tops:
        raise InputError("No kas configuration was given", None,
                         "Pass one, e.g. kas/armvm-aarch64.yml")
    kasrules.same_repository(tops)
    path = tops[0]
    work = Path(work_dir).absolute() if work_dir else default_work_dir()
    build = Path(os.environ.get("KAS_BUILD_DIR") or work / "build").absolute()
    top_repo = repo_root(path.parent) if path.parent.exists() else path.parent

    repo_paths: dict[str, Path] = dict(include_repos or {})
    while True:  # repo includes can define repos that hold further includes
        missing: list[str] = []
        files = []
        for top in tops:
            files.extend(_load_tree(top, top_repo, work, repo_paths, [], missing))
        merged = _merged(files, use_lock)
        new = False
        if include_repos is None:
            for rid in missing:
                rc = (merged.get("repos") or {}).get(rid)
                if rid in (merged.get("repos") or {}):
                    p = _repo_path(rid, rc or {}, top_repo, work)
                    if p.is_dir() and rid not in repo_paths:
                        repo_paths[rid] = p
                        new = True
        if not new:
            break

    used = [f for f in files if use_lock or not f.is_lockfile]
    config = merged
    versions = [1 if f.data["header"]["version"] == "0.10" else int(f.data["header"]["version"])
                for f in used]
    defaults = (config.get("defaults") or {}).get("repos") or {}
    overrides = (config.get("overrides") or {}).get("repos") or {}
    repos: list[RepoSpec] = []
    defaults_all = (config.get("defaults") or {}).get("repos") or {}
    for rid, rc in (config.get("repos") or {}).items():
        repos.append(_repo_spec(rid, rc or {}, defaults, overrides.get(rid) or {},
                                top_repo, work, files, defaults_all))
    unknown = set(overrides) - {r.id for r in repos}
    warnings = []
    for rid in sorted(unknown):
        warnings.append(f"lock/overrides entry '{rid}' names no repo in the configuration")
        log.warning(warnings[-1])

    target = os.environ.get("KAS_TARGET", "").split() or config.get("target") or \
        _schema()[0]["properties"]["target"]["default"]
    if isinstance(target, str):
        target = [target]
    lock_files = [f.path for f in files if f.is_lockfile]
    main_lock = lock_file_for(path)
    return KasProject(
        config_files=[f.path for f in files if not f.is_lockfile],
        lock_file=main_lock if main_lock.exists() else None,
        header_version=max(versions),
        machine=os.environ.get("KAS_MACHINE") or config.get("machine"),
        distro=os.environ.get("KAS_DISTRO") or config.get("distro"),
        target=list(target),
        repos=repos, work_dir=work, build_dir=build, top_repo_path=top_repo,
        lock_files=lock_files, missing_includes=missing, config=config, warnings=warnings,
        top_files=list(tops))


def _merged(files: list[_File], use_lock: bool) -> dict:
    merged: dict = {}
    for f in files:
        if f.is_lockfile and not use_lock:
            continue
        merged = _merge(merged, copy.deepcopy(f.data))
    return merged


def _repo_path(rid: str, rc: Mapping, top_repo: Path, work: Path) -> Path:
    p = rc.get("path")
    name = rc.get("name", rid)
    if p is None:
        return top_repo if rc.get("url") is None else work / name
    return Path(p) if os.path.isabs(p) else work / p


def _repo_spec(rid: str, rc: Mapping, defaults: Mapping, ov: Mapping, top_repo: Path,
               work: Path, files: list[_File], defaults_all: Mapping | None = None) -> RepoSpec:
    """kas's ``Repo.factory`` for one repo (same precedence, same refusals)."""
    url = rc.get("url")
    commit = rc.get("commit")
    tag = rc.get("tag", defaults.get("tag"))
    branch = rc.get("branch", defaults.get("branch"))
    refspec = rc.get("refspec", defaults.get("refspec"))
    src = next((f for f in reversed(files) if rid in (f.data.get("repos") or {})), None)
    where = src.where("repos", rid) if src else rid
    config_commit = commit
    locked = False
    if refspec is not None:
        if commit is not None or tag is not None or branch is not None:
            raise InputError(f"{where}: repo '{rid}' mixes the deprecated 'refspec' with "
                             "commit/tag/branch", "kas rejects that mixture",
                             "Replace 'refspec' by 'commit' + 'branch'")
        # kas: ``refspec = repo_overrides.get('commit', refspec)``: a lock file
        # pins a legacy-refspec repo too (checked out detached at the commit)
        if ov.get("commit"):
            refspec = ov["commit"]
            locked = True
    else:
        locked = bool(ov.get("commit"))
        commit = ov.get("commit", commit)
        branch = ov.get("branch", branch)
        url = ov.get("url", url)
        if url and "url" in ov:
            msg = git_url_warning(url)
            if msg:
                log.warning("repo '%s' (overrides): %s", rid, msg)
    kasrules.absolute_refs(where, rid, rc.get("name", rid), branch, commit, refspec)
    if refspec is not None:
        # kas checks a legacy refspec out as given: a commit id detached,
        # a branch name as ``git checkout <name>`` (the local branch)
        if HEX40.match(str(refspec)):
            commit = str(refspec)
        else:
            branch = str(refspec)
    patches = []
    default_patch_repo = (defaults.get("patches") or {}).get("repo")
    for pid in sorted(rc.get("patches") or {}):
        pc = (rc.get("patches") or {})[pid]
        if not pc:
            continue
        prepo = pc.get("repo", default_patch_repo)
        if prepo is None:
            raise InputError(f"{where}: patch entry '{pid}' of repo '{rid}' names no repo",
                             "kas: \"No repo specified for patch entry and no default repo "
                             "specified\"", "Add 'repo:' to the patch entry (or "
                             "defaults: repos: patches: repo:)")
        patches.append({"id": pid, "repo": prepo, "path": pc["path"]})
    signed = bool(rc.get("signed", False))
    signers = rc.get("allowed_signers") if signed else None
    if signed and not signers:
        raise InputError(f"{where}: repo '{rid}' is signed but names no allowed signers",
                         "kas refuses this (\"is signed but no allowed signers specified\")",
                         "Add 'allowed_signers:' naming keys of the top-level 'signers:'")
    if url is not None and commit is None and tag is None and branch is None \
            and refspec is None:
        raise InputError(f"{where}: repo '{rid}' has a url but no commit, tag or branch",
                         "kas refuses this (\"No commit, tag or branch specified\")",
                         "Add 'branch:' and 'commit:' (full id), then run 'armvm-oe lock'")
    if tag and branch:
        raise InputError(f"{where}: repo '{rid}' sets both tag '{tag}' and branch '{branch}'",
                         "kas refuses this (\"Both tag and branch cannot be specified\")",
                         "Keep 'branch:' and 'commit:', and name the tag in a comment")
    path = _repo_path(rid, rc, top_repo, work)
    layers_cfg = rc.get("layers", {"": None})
    if layers_cfg is None:
        layers_cfg = {"": None}
    layers: list[str] = []
    prio: dict[str, int] = {}
    default_prio = _schema()[0]["$defs"]["layerPrio"]["properties"]["prio"]["default"]
    for lname, prop in layers_cfg.items():
        if prop is None:
            layers.append(lname)
            prio[lname] = default_prio
        elif isinstance(prop, Mapping):
            layers.append(lname)
            prio[lname] = int(prop.get("prio", default_prio))
        # "disabled" and legacy tokens: excluded
    return RepoSpec(id=rid, url=url, path=path.absolute(), commit=commit, branch=branch,
                    tag=tag, layers=layers, is_local=url is None, name=rc.get("name", rid),
                    layer_prio=prio, locked=locked, config_commit=config_commit,
                    source=src.path if src else None, refspec=refspec,
                    type=str(rc.get("type", "git")), patches=patches, signed=signed,
                    allowed_signers=signers)


def layer_dirs(repo: RepoSpec) -> list[Path]:
    """The directories of ``repo`` kas puts in bblayers.conf (``''``/``.`` = repo root)."""
    return [Path(os.path.normpath(repo.path / name)) for name in repo.layers]


def bblayers(project: KasProject) -> list[Path]:
    """All layer dirs sorted as kas sorts them: priority (descending), repo id, layer name."""
    items = []
    for r in project.repos:
        for name in r.layers:
            items.append(((-r.layer_prio.get(name, 0), r.name, name),
                          Path(os.path.normpath(r.path / name))))
    return [p for _, p in sorted(items, key=lambda t: t[0])]


def _conf_header(config: Mapping, key: str) -> str:
    return "".join(f"# {k}\n{v}\n" for k, v in sorted((config.get(key) or {}).items()))


def bblayers_conf_text(project: KasProject) -> str:
    """``build/conf/bblayers.conf`` byte for byte as kas's WriteBBConfig writes it."""
    layers = ["${TOPDIR}/" + os.path.relpath(p, project.build_dir) for p in project.bblayers()]
    return (_conf_header(project.config, "bblayers_conf_header") + 'BBLAYERS ?= " \\\n    ' +
            " \\\n    ".join(layers) + '"\n' + 'BBPATH ?= "${TOPDIR}"\n' + 'BBFILES ??= ""\n')


def local_conf_text(project: KasProject) -> str:
    """``build/conf/local.conf`` as kas writes it (machine/distro defaults from
    kas's schema, KAS_MACHINE/KAS_DISTRO win; BBMULTICONFIG sorted, where kas
    joins a set)."""
    props = _schema()[0]["properties"]
    cfg = project.config
    machine = os.environ.get("KAS_MACHINE", cfg.get("machine", props["machine"]["default"]))
    distro = os.environ.get("KAS_DISTRO", cfg.get("distro", props["distro"]["default"]))
    mcs = sorted({t.split(":")[1] for t in project.target
                  if t.startswith("multiconfig:") or t.startswith("mc:")})
    text = (_conf_header(cfg, "local_conf_header") + f'MACHINE ??= "{machine}"\n'
            f'DISTRO ??= "{distro}"\n' + f'BBMULTICONFIG ?= "{" ".join(mcs)}"\n')
    if cfg.get("build_system") == "isar-rootless":
        text += 'ISAR_ROOTLESS ?= "1"\n'
    return text


def write_lock(lock_path: Path, commits: dict[str, str], header_version: int = 14,
               comments: dict[str, str] | None = None, inputs: list | None = None) -> None:
    """Write a kas lock file (``overrides: repos: <id>: commit:``), atomically.

    ``comments`` (repo id -> text) become YAML comments above each entry.
    The lock file is the tool's own output (``Do not edit by hand``) and is
    replaced by design, but never when it is one of ``inputs`` (the kas
    configs: a lock file symlinked or hard-linked to a config)."""
    import json

    from armvm_oe.lib import atomic_write, check_output
    from armvm_oe.ui import term_safe

    for rid, c in commits.items():
        if not HEX40.match(c):
            raise InputError(f"Refusing to lock repo '{rid}' to '{c}'",
                             "Lock files hold full 40-hex commit ids only", "Report this as a bug")
    lines = ["# Written by 'armvm-oe lock' (kas lock-file format, loaded automatically by",
             "# kas and armvm-oe after the configuration next to it). Do not edit by hand:",
             "# run 'armvm-oe lock --update'.",
             "header:", f"  version: {max(14, int(header_version))}",
             "overrides:", "  repos:"]
    for rid in sorted(commits):
        if comments and comments.get(rid):
            # a comment ends at a line break (a CR too): the ref is escaped
            lines.append(f"    # {term_safe(comments[rid])}")
        # an id that is not a plain word is written as a YAML double-quoted
        # scalar (JSON's escapes are YAML's), so it reads back exactly
        key = rid if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", rid) else json.dumps(rid)
        lines.append(f"    {key}:")
        lines.append(f"      commit: {commits[rid]}")
    check_output(lock_path, list(inputs or []), force=True, what="lock file")
    atomic_write(Path(lock_path), "\n".join(lines) + "\n")
