"""A small QMP client (QEMU Machine Protocol over a unix socket)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path


class QMPError(RuntimeError):
    pass


class QMP:
    """``with QMP(sock) as q: q.command("device_add", driver=..., id=...)``."""

    def __init__(self, path: str | Path, timeout: float = 10.0):
        self.path = str(path)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self._buf = b""
        self.events: list[dict] = []

    def connect(self) -> "QMP":
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(self.timeout)
                s.connect(self.path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() > deadline:
                    raise QMPError(f"QEMU monitor socket {self.path} did not answer")
                time.sleep(0.1)
        self.sock = s
        greeting = self._read()
        if "QMP" not in greeting:
            raise QMPError(f"not a QMP greeting: {greeting}")
        self.command("qmp_capabilities")
        return self

    def _read(self) -> dict:
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QMPError("QEMU closed the monitor socket")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def command(self, name: str, **arguments):
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise QMPError(f"{name}: {reply['error'].get('desc', reply['error'])}")
            return reply.get("return")

    def hmp(self, command_line: str) -> str:
        """Run a human-monitor command through QMP."""
        return self.command("human-monitor-command", **{"command-line": command_line})

    def close(self) -> None:
        if self.sock:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()
