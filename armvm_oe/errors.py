"""Error classes that carry the user-facing message.

Every error a user can cause is raised as an :class:`ArmvmError` subclass.
The CLI prints it as one paragraph (what happened, why, what to do) and exits
with the class's exit code; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEM = 1      # a check or command found a problem
EXIT_USAGE = 2        # usage error or bad input
EXIT_INTERRUPTED = 130


class ArmvmError(Exception):
    """Base class: ``what`` happened, ``why``, and the ``fix``."""

    exit_code = EXIT_PROBLEM

    def __init__(self, what: str, why: str | None = None, fix: str | None = None,
                 *, check_id: str | None = None):
        super().__init__(what)
        self.what = what.rstrip(".")
        self.why = why
        self.fix = fix
        self.check_id = check_id  # the doctor check that diagnoses the same thing

    def paragraph(self) -> str:
        parts = [self.what + "."]
        if self.why:
            parts.append(self.why.rstrip(".") + ".")
        if self.fix:
            parts.append(self.fix.rstrip(".") + ".")
        if self.check_id:
            parts.append(f"(doctor check {self.check_id})")
        return " ".join(parts)

    def as_dict(self) -> dict:
        return {"error": type(self).__name__, "what": self.what, "why": self.why,
                "fix": self.fix, "check_id": self.check_id,
                "exit_code": self.exit_code}


class UsageError(ArmvmError):
    """Bad command line or bad input file."""

    exit_code = EXIT_USAGE


class InputError(UsageError):
    """An input (config, image, archive) is unreadable or malformed."""


class ToolMissing(UsageError):
    """A host program is missing; names the Debian package that provides it."""

    def __init__(self, tool: str, package: str, purpose: str):
        super().__init__(
            f"'{tool}' was not found on PATH",
            f"armvm-oe needs it to {purpose}",
            f"Install it (Debian/Ubuntu: {privileged(f'apt-get install {package}')}) and run the "
            "command again")
        self.tool = tool
        self.package = package


class ProblemFound(ArmvmError):
    """The command ran and found a problem (exit 1)."""

    exit_code = EXIT_PROBLEM


class NotImplementedYet(UsageError):
    def __init__(self, command: str):
        super().__init__(f"'armvm-oe {command}' is not implemented yet",
                         "this command is planned but not part of this release",
                         "See README.md for the commands available now")


ALLOW_ROOT_ENV = "ARMVM_ALLOW_ROOT"
# the unprivileged uid/gid a root caller's container build runs as when root
# owns the work dir (the image's own 'builder' user, containers/Dockerfile)
ROOT_BUILD_UID = 30000


class RootRefused(UsageError):
    """``armvm-oe build`` run as root without the override (kas-container's
    KAS_ALLOW_ROOT), or as root on the host, where bitbake itself refuses."""

    def __init__(self, mode: str):
        if mode == "host-fallback":
            super().__init__(
                "armvm-oe build refuses to run as root on the host",
                "no container engine answered, so this would be a host build, and bitbake "
                "refuses to start as uid 0 ('Do not use Bitbake as root')",
                "Start the container engine ('armvm-oe doctor --only container' says how) and "
                f"run again with --allow-root (or {ALLOW_ROOT_ENV}=1), or run armvm-oe as an "
                "ordinary user", check_id="host.root")
        elif mode == "host":
            super().__init__(
                "armvm-oe build --host refuses to run as root",
                "bitbake refuses to start as uid 0 ('Do not use Bitbake as root'), so a "
                "host build as root would stop after the checkout",
                "Run it as an ordinary user (e.g. 'runuser -u USER -- armvm-oe build --host' "
                "with a user that owns the work dir), or build in the container: drop --host "
                f"and pass --allow-root (or set {ALLOW_ROOT_ENV}=1), which runs bitbake there as "
                "an unprivileged user", check_id="host.root")
        else:
            super().__init__(
                "armvm-oe build refuses to run as root",
                "a root caller's build would write root-owned files into the work dir, DL_DIR "
                "and SSTATE_DIR, and bitbake itself refuses uid 0; kas-container refuses root "
                "the same way (KAS_ALLOW_ROOT)",
                "Run it as an ordinary user with access to the container engine, or pass "
                f"--allow-root (or set {ALLOW_ROOT_ENV}=1): bitbake then runs in the container "
                "as the owner of the work dir, or as uid "
                f"{ROOT_BUILD_UID} when root owns it, and armvm-oe hands that user the "
                "directories the build writes")
        self.mode = mode


def privileged(command: str) -> str:
    """``command`` as the caller must type it: with ``sudo`` for an ordinary
    user, without it for root (containers and CI images often have no sudo,
    and 'sudo: command not found' would change nothing)."""
    import os
    return command if os.geteuid() == 0 else f"sudo {command}"
