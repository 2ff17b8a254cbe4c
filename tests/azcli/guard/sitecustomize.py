"""Refuse every outbound connection that is not to loopback (the az process under test)."""
import socket

_orig_connect = socket.socket.connect
_orig_cc = socket.create_connection


def _check(address):
    host = address[0] if isinstance(address, tuple) else address
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ConnectionRefusedError(f"vpnrunbook test guard: outbound connection to {host!r} refused")


def _connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _orig_connect(self, address)


def _create_connection(address, *args, **kwargs):
    _check(address)
    return _orig_cc(address, *args, **kwargs)


socket.socket.connect = _connect
socket.create_connection = _create_connection

_orig_gai = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if host not in (None, "127.0.0.1", "localhost", "::1"):
        raise socket.gaierror(socket.EAI_NONAME, f"vpnrunbook test guard: name {host!r} not resolved")
    return _orig_gai(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
