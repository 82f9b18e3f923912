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
            f"Install it (Debian/Ubuntu: sudo apt-get install {package}) and run the command again")
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
