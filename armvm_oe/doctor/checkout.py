"""Checkout checks: each repo pinned by the kas configuration is present, a
complete git checkout, at the locked commit and clean; layers match the core's
series; URLs and proxies will work. Repos come from armvm_oe.kasconfig."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from armvm_oe.doctor import facts
from armvm_oe.doctor.model import Context, Problem
from armvm_oe.doctor.registry import check
from armvm_oe.errors import privileged

CORE_IDS = ("poky", "openembedded-core", "oe-core")


def _git(ctx: Context, repo: Path, *args: str, safe: bool = True, timeout: float = 20):
    cmd = ["git"] + (["-c", "safe.directory=*"] if safe else []) + ["-C", str(repo), *args]
    env = dict(ctx.env)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["LC_ALL"] = "C"
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                              errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(cmd, 124, "", str(exc))


def _repos(ctx: Context):
    proj = facts.project(ctx)
    return list(proj.repos) if proj is not None else []


def _is_core(ctx: Context, repo) -> bool:
    core = facts.core_dir(ctx)
    return repo.id in CORE_IDS or "meta" in repo.layers or (
        core is not None and Path(repo.path) == Path(core))


def _state(ctx: Context, repo) -> str:
    """missing / not-git / no-head / ok for a remote repo (memoised)."""
    def _probe():
        p = Path(repo.path)
        if not p.exists():
            return "missing"
        if not (p / ".git").exists():
            return "not-git"
        r = _git(ctx, p, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        if r.returncode != 0 or not r.stdout.strip():
            return "no-head"
        return "ok"
    return ctx.memo(f"state:{repo.id}", _probe)


def _checkout_cmd(ctx: Context) -> str:
    cfg = ctx.kas_config or "kas/armvm-aarch64.yml"
    return f"armvm-oe checkout {cfg}"


def _cause_of_missing(ctx: Context, repo) -> str:
    url = repo.url or ""
    if url.startswith("git://"):
        return (f"its URL {url} uses git:// (port 9418), which GitHub and git.yoctoproject.org "
                "have turned off and firewalls block: the clone timed out "
                "('fatal: unable to connect to ... errno=Connection timed out')")
    if ctx.network:
        err = _ls_remote(ctx, url)
        if err:
            return f"its remote {url} is unreachable from here: {err}"
        return f"its remote {url} is reachable, so the clone was never run or was interrupted"
    return ("the clone never ran or failed (a script without 'set -e' goes on after a failed "
            "'git clone'/'repo sync'); run with --network to probe the remote")


@check("checkout.missing-poky-cascade", "the core layer repository (poky/oe-core) is checked out",
       "fatal",
       "cd: poky: No such file or directory / oe-init-build-env: No such file or directory / "
       "conf/bblayers.conf: No such file or directory",
       "Check out the pinned repositories first and read the first error of that step")
def missing_core(ctx: Context):
    for repo in _repos(ctx):
        if repo.is_local or not _is_core(ctx, repo):
            continue
        state = _state(ctx, repo)
        if state not in ("missing", "no-head", "not-git"):
            continue
        what = {"missing": "is missing", "no-head": "is an interrupted clone (no commit)",
                "not-git": "is not a git checkout"}[state]
        first = ("the clone was killed part-way (.git exists, no commit was checked out)"
                 if state == "no-head" else _cause_of_missing(ctx, repo))
        msg = (f"'{repo.id}' ({repo.path}) {what}, so oe-init-build-env does not exist and "
               "every later step fails in a cascade: 'cd: poky: No such file or directory' -> "
               "'oe-init-build-env: No such file or directory' -> 'conf/bblayers.conf: No such "
               f"file or directory' -> 'bitbake: command not found'. Those are symptoms; the "
               f"first cause: {first}")
        cmds = ([f"rm -rf {repo.path}"] if state in ("no-head", "not-git") else [])
        cmds.append(_checkout_cmd(ctx))
        return Problem(msg, commands=cmds, path=str(repo.path))
    return None


@check("checkout.repo-missing", "every pinned repository is checked out", "fatal",
       "Did not find any init-build-env script / The following layer directories do not exist:",
       "Run the checkout (armvm-oe checkout <config>)")
def repo_missing(ctx: Context):
    out = []
    for repo in _repos(ctx):
        if _is_core(ctx, repo) and not repo.is_local:
            continue  # checkout.missing-poky-cascade explains it
        if not Path(repo.path).exists():
            out.append(Problem(f"repo '{repo.id}' is not at {repo.path}; "
                               f"{_cause_of_missing(ctx, repo) if repo.url else 'it is a local repo'}",
                               commands=[_checkout_cmd(ctx)], path=str(repo.path)))
    return out


@check("checkout.not-git", "every pinned repository is a git checkout", "fatal",
       "fatal: not a git repository (or any of the parent directories): .git",
       "Move the directory away and check out again")
def not_git(ctx: Context):
    return [Problem(f"repo '{r.id}': {r.path} exists but has no .git, so kas cannot check out "
                    "the pinned commit there", commands=[f"mv {r.path} {r.path}.bak",
                                                         _checkout_cmd(ctx)], path=str(r.path))
            for r in _repos(ctx)
            if not r.is_local and not _is_core(ctx, r) and _state(ctx, r) == "not-git"]


@check("checkout.incomplete-clone", "no clone was interrupted", "fatal",
       "fatal: your current branch 'master' does not have any commits yet / "
       "fatal: ambiguous argument 'HEAD': unknown revision",
       "Delete the half-cloned directory and check out again")
def incomplete(ctx: Context):
    out = []
    for r in _repos(ctx):
        if r.is_local or _is_core(ctx, r):
            continue
        st = _state(ctx, r)
        if st == "no-head":
            out.append(Problem(f"repo '{r.id}' at {r.path} has .git but no commit: the clone "
                               "was interrupted", commands=[f"rm -rf {r.path}",
                                                            _checkout_cmd(ctx)], path=str(r.path)))
        elif st == "ok":
            deleted = _status(ctx, r)[1]
            if deleted and deleted >= 0.5 * max(_tracked(ctx, r), 1):
                out.append(Problem(f"repo '{r.id}' at {r.path}: {deleted} tracked files are "
                                   "missing from the work tree: the checkout was interrupted",
                                   commands=[f"git -C {r.path} checkout -f HEAD"],
                                   path=str(r.path)))
    return out


def _status(ctx: Context, repo) -> tuple[list[str], int]:
    """(porcelain lines of tracked changes, number of deletions)."""
    def _run():
        r = _git(ctx, Path(repo.path), "status", "--porcelain", "--untracked-files=no")
        if r.returncode != 0:
            return [], 0
        lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
        return lines, sum(1 for ln in lines if ln[:2].strip() == "D")
    return ctx.memo(f"status:{repo.id}", _run)


def _tracked(ctx: Context, repo) -> int:
    r = _git(ctx, Path(repo.path), "ls-files")
    return len(r.stdout.splitlines()) if r.returncode == 0 else 0


@check("checkout.dubious-ownership", "git accepts the checkouts' ownership", "fatal",
       "fatal: detected dubious ownership in repository at '%s'",
       "Run the build as the owner of the checkout (or: git config --global --add "
       "safe.directory <path>)")
def dubious(ctx: Context):
    out = []
    for r in _repos(ctx):
        p = Path(r.path)
        if not (p / ".git").exists():
            continue
        res = _git(ctx, p, "rev-parse", "HEAD", safe=False)
        if "dubious ownership" in res.stderr:
            owner = p.stat().st_uid
            out.append(Problem(f"repo '{r.id}' at {r.path} is owned by uid {owner}, not by uid "
                               f"{os.geteuid()}: git (and so kas and bitbake's git fetcher) "
                               "refuse to use it",
                               commands=[privileged(f"chown -R {os.geteuid()}:{os.getegid()} {r.path}")],
                               path=str(r.path)))
    return out


@check("checkout.wrong-commit", "each repo is at its pinned (locked) commit", "error",
       "(no error: the build silently uses the wrong revision)",
       "Check out the pinned commit (armvm-oe checkout), or update the lock file if the new "
       "commit is intended (armvm-oe lock --update)")
def wrong_commit(ctx: Context):
    out = []
    for r in _repos(ctx):
        if r.is_local or _state(ctx, r) != "ok":
            continue
        want = r.commit
        if not want and r.tag:
            res = _git(ctx, Path(r.path), "rev-parse", "--verify", "--quiet",
                       f"refs/tags/{r.tag}^{{commit}}")
            want = res.stdout.strip() or None
        if not want:
            continue
        head = _git(ctx, Path(r.path), "rev-parse", "HEAD").stdout.strip()
        if head and head != want:
            src = "lock file" if r.locked else "configuration"
            out.append(Problem(f"repo '{r.id}' is at {head[:12]}, the {src} pins {want[:12]}",
                               commands=[f"git -C {r.path} checkout {want}"], path=str(r.path)))
    return out


@check("checkout.dirty", "checkouts have no local modifications", "error",
       "Repo %s is dirty - no checkout",
       "Commit or stash the changes (kas skips dirty repos and builds the wrong revision), or "
       "discard them")
def dirty(ctx: Context):
    out = []
    for r in _repos(ctx):
        if r.is_local or _state(ctx, r) != "ok":
            continue
        lines, deleted = _status(ctx, r)
        if not lines or (deleted and deleted >= 0.5 * max(_tracked(ctx, r), 1)):
            continue
        shown = ", ".join(ln[3:] for ln in lines[:5]) + (" ..." if len(lines) > 5 else "")
        out.append(Problem(f"repo '{r.id}' has {len(lines)} modified file(s): {shown}; kas "
                           "warns 'Repo {0} is dirty - no checkout' and goes on".format(r.id),
                           commands=[f"git -C {r.path} stash  # or: git -C {r.path} diff > my.patch"],
                           path=str(r.path)))
    return out


@check("checkout.layer-missing", "every configured layer exists in its repo", "fatal",
       "The following layer directories do not exist:",
       "Fix the layer name in the kas configuration, or check out the right branch")
def layer_missing(ctx: Context):
    out = []
    for r in _repos(ctx):
        if not Path(r.path).is_dir() or _state(ctx, r) in ("no-head",):
            continue
        for name in r.layers:
            d = Path(os.path.normpath(Path(r.path) / name))
            if not (d / "conf" / "layer.conf").is_file():
                out.append(Problem(f"repo '{r.id}': layer '{name or '.'}' has no conf/layer.conf "
                                   f"({d})", path=str(d)))
    return out


@check("checkout.layerseries", "layers are compatible with the core's release series", "fatal",
       "Layer %s is not compatible with the core layer which only supports these series: %s "
       "(layer is compatible with %s)",
       "Check out the layer's branch for the core's release")
def layerseries(ctx: Context):
    core = facts.core_dir(ctx)
    series = facts.core_layer_series(core) if core else None
    if not series:
        return None
    out = []
    for r in _repos(ctx):
        for name in r.layers:
            d = Path(os.path.normpath(Path(r.path) / name))
            conf = d / "conf" / "layer.conf"
            if not conf.is_file() or (core and d == Path(core) / "meta"):
                continue
            v = facts.conf_vars(conf, {"LAYERDIR": str(d)})
            compat = {k: val for k, val in v.items() if k.startswith("LAYERSERIES_COMPAT_")}
            if not compat:
                out.append(Problem(f"layer {d.name} ({r.id}) sets no LAYERSERIES_COMPAT",
                                   severity="warn", path=str(conf)))
                continue
            for var, val in compat.items():
                if series not in val.split():
                    out.append(Problem(
                        f"Layer {var[len('LAYERSERIES_COMPAT_'):]} ({d}) is compatible with "
                        f"'{val}', the core layer supports '{series}'", path=str(conf),
                        fix=f"Use the {series} branch of repo '{r.id}'"))
    return out


def _https_for(url: str) -> str:
    https = "https://" + url[len("git://"):]
    if "git.yoctoproject.org" in url and "/git/" not in url:
        https = https.replace("git.yoctoproject.org/", "git.yoctoproject.org/git/", 1)
    return https


@check("checkout.git-protocol", "no repository uses git://", "error",
       "fatal: unable to connect to git.yoctoproject.org: ... errno=Connection timed out / "
       "The unauthenticated git protocol on port 9418 is no longer supported.",
       "Use https:// URLs (git.yoctoproject.org needs the /git/ path)")
def git_protocol(ctx: Context):
    out = []
    for r in _repos(ctx):
        if r.url and r.url.startswith("git://"):
            host = urlparse(r.url).hostname or ""
            https = _https_for(r.url)
            base = f"git://{host}/"
            repl = _https_for(base)
            out.append(Problem(f"repo '{r.id}' uses {r.url}; use {https}",
                               commands=[f"git config --global url.\"{repl}\".insteadOf \"{base}\""]))
    return out


def _ls_remote(ctx: Context, url: str) -> str | None:
    """None when ``url`` answers within the timeout, else the reason."""
    if not url:
        return None
    t = ctx.thresholds.network_timeout
    if url.startswith("git://"):
        host = urlparse(url).hostname
        port = urlparse(url).port or 9418
        try:
            with socket.create_connection((host, port), timeout=t):
                pass
        except OSError as exc:
            return f"TCP {host}:{port}: {exc.strerror or exc}"
    env = dict(ctx.env, GIT_TERMINAL_PROMPT="0", GIT_SSH_COMMAND=f"ssh -o ConnectTimeout={int(t)} -o BatchMode=yes",
               GIT_HTTP_LOW_SPEED_LIMIT="1", GIT_HTTP_LOW_SPEED_TIME=str(int(t)))
    try:
        p = subprocess.run(["git", "ls-remote", "--heads", url], capture_output=True, text=True,
                           env=env, timeout=t + 2, errors="replace")
    except subprocess.TimeoutExpired:
        return f"no answer within {t + 2:g} s"
    except OSError as exc:
        return str(exc)
    if p.returncode != 0:
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        return lines[0] if lines else f"git ls-remote exited {p.returncode}"
    return None


@check("checkout.remote-unreachable", "remotes answer", "error",
       "Fetching of repo: \"%s\" failed / fatal: unable to access '%s': Could not resolve host",
       "Check the network/proxy settings, or use a reachable mirror (KAS_REPO_REF_DIR or a "
       "url override)", network=True)
def remote_unreachable(ctx: Context):
    out = []
    for r in _repos(ctx):
        if r.url:
            err = _ls_remote(ctx, r.url)
            if err:
                out.append(Problem(f"repo '{r.id}': {r.url}: {err}"))
    return out


_PROXY_VARS = ("http_proxy", "https_proxy", "ftp_proxy", "no_proxy")


@check("checkout.proxy-passthrough", "proxy settings reach git, kas and bitbake", "warn",
       "fatal: unable to access '%s': Failed to connect to %s port 443: Connection timed out",
       "Export the lowercase proxy variables kas passes through (http_proxy, https_proxy, "
       "ftp_proxy, no_proxy); git:// ignores them (use https URLs or GIT_PROXY_COMMAND)")
def proxy(ctx: Context):
    env = ctx.env
    out = []
    for var in _PROXY_VARS:
        if env.get(var.upper()) and not env.get(var):
            out.append(Problem(f"{var.upper()} is set but {var} is not: wget, git and kas "
                               f"(which passes only {', '.join(_PROXY_VARS)}) use the lowercase "
                               "name", commands=[f"export {var}=\"${var.upper()}\""]))
    if env.get("http_proxy") and not env.get("https_proxy") and not env.get("HTTPS_PROXY"):
        out.append(Problem("http_proxy is set but https_proxy is not: https fetches (most of "
                           "them) bypass the proxy", commands=["export https_proxy=\"$http_proxy\""]))
    if any(env.get(v) or env.get(v.upper()) for v in ("http_proxy", "https_proxy")) \
            and not env.get("GIT_PROXY_COMMAND"):
        for r in _repos(ctx):
            if r.url and r.url.startswith("git://"):
                out.append(Problem(f"repo '{r.id}' uses git://, which ignores the http(s) proxy "
                                   "settings; behind a proxy it cannot be fetched"))
    return out
