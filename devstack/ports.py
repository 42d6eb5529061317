"""Ports `make up` listens on itself or through its worker: each is checked before anything starts, so a port
another program holds ends `make up` with one line that names the port and the variable that moves it."""

from __future__ import annotations

import errno
import socket
import time


class PortTaken(Exception):
    """A port `make up` needs is held by another program; the message is the one line shown to the user."""


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _bindable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # The servers that will take the port set SO_REUSEADDR too, so a connection of a previous run still in
        # TIME_WAIT does not count as taken.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def ensure_free(host: str, port: int, what: str, variable: str, grace_s: float = 5.0) -> None:
    """Raises PortTaken unless (host, port) can be bound within grace_s: the children of a `make up` killed a
    moment ago release their ports as they die, so a restart waits for them that long."""
    deadline = time.monotonic() + grace_s
    while not _bindable(host, port):
        if time.monotonic() >= deadline:
            raise PortTaken(f"make up: port {port} on {host} ({what}) is taken by another program; "
                            f"set {variable} to move it")
        time.sleep(0.25)
