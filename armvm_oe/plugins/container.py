"""armvm-oe container: build the reproducible build container, open a shell
in it, and check that it rebuilds to the same content."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from armvm_oe import ui
from armvm_oe.errors import UsageError

NAME = "container"
HELP = "build the reproducible build container, open a shell in it, check it rebuilds identically"
ORDER = 60
DESCRIPTION = """\
The build container is Debian 12 with every Yocto scarthgap host package, kas
and armvm-oe, built from containers/Dockerfile with the Docker SDK (Docker, or
podman through its Docker-compatible socket: set DOCKER_HOST). Its tag is a hash
of the Dockerfile and all its inputs, so a stale image is never used.
Builds in it run as an unprivileged user mapped to your uid (docs/container.md).

subcommands:
  build   build the image (nothing to do if the tag for the current inputs exists)
  shell   open a shell in it with the work dir, DL_DIR and SSTATE_DIR mounted
  check   rebuild without cache and compare layer digests (reproducibility)
  tag     print the image tag for the current inputs
"""
EXAMPLES = """\
armvm-oe container build
armvm-oe container build --base-image armvm-oe/debian-base:bookworm --mirror http://deb.debian.org/debian
armvm-oe container shell --work-dir build --dl-dir ~/yocto/downloads
armvm-oe container shell -- kas --version
armvm-oe container check --json
"""


def _image_args(p) -> None:
    p.add_argument("--base-image", metavar="IMAGE",
                   help="base image instead of the pinned debian:bookworm-slim digest, e.g. one "
                        "made by scripts/make-base-image.sh (env ARMVM_CONTAINER_BASE_IMAGE)")
    p.add_argument("--mirror", metavar="URL",
                   help="Debian mirror instead of the pinned snapshot.debian.org date; 'host' "
                        "takes the bookworm mirror from this machine's /etc/apt "
                        "(env ARMVM_CONTAINER_MIRROR)")
    p.add_argument("--security-mirror", metavar="URL",
                   help="debian-security mirror (default: derived from --mirror; '' for none)")
    p.add_argument("--ca-cert", metavar="PEM", action="append", default=None,
                   help="extra CA certificate for reaching PyPI through a TLS-inspecting proxy "
                        "(repeatable; used only during the build, stored in no layer; "
                        "env ARMVM_CONTAINER_CA_CERTS, ':'-separated)")


def setup_parser(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    b = sub.add_parser("build", help="build the image for the current inputs")
    _image_args(b)
    b.add_argument("--no-cache", action="store_true", help="rebuild every step")
    b.add_argument("--force", action="store_true", help="build even if the tag exists")
    s = sub.add_parser("shell", help="a shell (or a command) in the build container")
    _image_args(s)
    s.add_argument("--work-dir", type=Path, default=None,
                   help="mounted read-write at /work (default: $KAS_WORK_DIR or the current dir)")
    s.add_argument("--project", type=Path, default=None,
                   help="mounted read-only at /repo (default: none)")
    s.add_argument("--dl-dir", type=Path, default=None,
                   help="DL_DIR, mounted at /downloads (default: $DL_DIR if set)")
    s.add_argument("--sstate-dir", type=Path, default=None,
                   help="SSTATE_DIR, mounted at /sstate (default: $SSTATE_DIR if set)")
    s.add_argument("--ssh-agent", action="store_true",
                   help="mount the SSH agent socket ($SSH_AUTH_SOCK)")
    s.add_argument("command", nargs="*", help="command to run instead of an interactive shell "
                                              "(put it after --)")
    c = sub.add_parser("check", help="rebuild without cache and compare with the image")
    _image_args(c)
    c.add_argument("--keep", action="store_true", help="keep the second image (tag ...-recheck)")
    t = sub.add_parser("tag", help="print the image tag for the current inputs")
    _image_args(t)
    try:    # the global -v/--json/--debug also after the action
        from armvm_oe.cli import _common
    except ImportError:  # pragma: no cover
        _common = None
    for p in (b, s, c, t):
        if _common:
            _common(p, suppress=True)
    parser.set_defaults(_container_root=parser)


def _spec(args):
    from armvm_oe.container.image import ImageSpec

    return ImageSpec.from_env(args.base_image, args.mirror, args.security_mirror,
                              ca_certs=args.ca_cert)


class _BuildProgress:
    """tqdm over Dockerfile steps on a TTY; 'Step n/m' lines otherwise."""

    def __init__(self, verbose: int, quiet: bool = False):
        self.verbose = verbose
        self.quiet = quiet
        self.bar = None

    def step(self, n: int, total: int, text: str) -> None:
        if ui.interactive():
            if self.bar is None:
                self.bar = ui.progress(total=total, desc="container build", unit="step")
            self.bar.update(n - self.bar.n)
            self.bar.set_postfix_str(ui.term_safe(text[:40]))
        elif not self.quiet:
            ui.echo(f"container build: step {n}/{total}: {text[:100]}", file=sys.stderr,
                    flush=True)

    def line(self, line: str) -> None:
        if self.verbose:
            if self.bar is not None:
                self.bar.write(ui.term_safe(line), file=sys.stderr)
            else:
                ui.echo(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _build(client, spec, args, *, nocache=False, force=False, tag=None):
    from armvm_oe.container.image import build_image, ensure_image

    prog = _BuildProgress(args.verbose)
    try:
        if force or nocache or tag:
            return build_image(client, spec, nocache=nocache, tag=tag,
                               on_line=prog.line, on_step=prog.step)
        return ensure_image(client, spec, on_line=prog.line, on_step=prog.step)
    finally:
        prog.close()


def _cmd_build(args) -> int:
    from armvm_oe.container import engine

    client = engine.connect()
    spec = _spec(args)
    res = _build(client, spec, args, nocache=args.no_cache, force=args.force)
    size = client.images.get(res.tag).attrs.get("Size", 0)
    out = {"tag": res.tag, "image_id": res.image_id, "built": res.built,
           "seconds": round(res.seconds, 1), "size_bytes": size,
           "build_args": spec.buildargs()}
    if args.json:
        ui.emit_json(out)
    else:
        state = "built" if res.built else "up to date"
        print(f"{ui.badge('ok')} {res.tag} ({state}, {size / 1e6:.0f} MB"
              f"{f', {res.seconds:.0f} s' if res.built else ''})")
    return 0


def _cmd_tag(args) -> int:
    spec = _spec(args)
    if args.json:
        ui.emit_json({"tag": spec.tag, "inputs": spec.input_hash(), "build_args": spec.buildargs()})
    else:
        print(spec.tag)
    return 0


def _cmd_shell(args) -> int:
    from armvm_oe.container import engine
    from armvm_oe.container.runner import Mounts, interactive_shell, run_in_container

    env_path = lambda name: Path(os.environ[name]) if os.environ.get(name) else None  # noqa: E731
    mounts = Mounts(work_dir=args.work_dir or env_path("KAS_WORK_DIR") or Path.cwd(),
                    project=args.project, dl_dir=args.dl_dir or env_path("DL_DIR"),
                    sstate_dir=args.sstate_dir or env_path("SSTATE_DIR"),
                    ssh_agent=args.ssh_agent)
    client = engine.connect()
    res = _build(client, _spec(args), args)
    if args.command:
        return run_in_container(args.command, mounts, image=res.tag, client=client)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("'armvm-oe container shell' without a command needs a terminal",
                         "stdin or stdout is not a TTY",
                         "Give the command to run after --, e.g. "
                         "armvm-oe container shell -- kas --version")
    return interactive_shell(mounts, image=res.tag, client=client)


def _cmd_check(args) -> int:
    from armvm_oe.container import engine
    from armvm_oe.container.repro import compare_images

    client = engine.connect()
    spec = _spec(args)
    first = _build(client, spec, args)
    second_tag = first.tag + "-recheck"
    if not args.json:
        print(f"rebuilding {first.tag} without cache as {second_tag} ...", file=sys.stderr)
    second = _build(client, spec, args, nocache=True, tag=second_tag)
    try:
        report = compare_images(client, first.tag, second.tag)
    finally:
        if not args.keep:
            client.images.remove(second_tag, noprune=False)
    if args.json:
        d = report.as_dict()
        d["rebuild_seconds"] = round(second.seconds, 1)
        ui.emit_json(d)
    else:
        for line in report.lines():
            ui.echo(line)
        verdict = ui.badge("pass") + " identical layers" if report.identical \
            else ui.badge("fail") + " the rebuild differs (files listed above)"
        ui.echo(verdict, f": {first.tag} rebuilt in {second.seconds:.0f} s")
    return 0 if report.identical else 1


def run(args) -> int:
    action = getattr(args, "action", None)
    if not action:
        args._container_root.print_help(sys.stderr)
        return 2
    return {"build": _cmd_build, "shell": _cmd_shell, "check": _cmd_check,
            "tag": _cmd_tag}[action](args)
