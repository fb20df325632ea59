"""Raw-socket SMPP for the fault tests: exact bytes on the wire, every read bounded in time.

smpplib and aiosmpplib cannot send what these tests need (truncated bodies, non-ASCII
addresses, several PDUs in one write), so the PDUs are packed by hand here.
"""

from __future__ import annotations

import contextlib
import socket
import struct

from tests.conftest import PASSWORD, RouterProcess

HEADER = struct.Struct(">IIII")
GENERIC_NACK = 0x80000000


def pdu(command_id: int, seq: int, body: bytes = b"", length: int | None = None) -> bytes:
    return HEADER.pack(16 + len(body) if length is None else length, command_id, 0, seq) + body


def cstr(s: str | bytes) -> bytes:
    return (s if isinstance(s, bytes) else s.encode()) + b"\0"


def bind_body(system_id: str = "esme1", password: str = PASSWORD, version: int = 0x34) -> bytes:
    return cstr(system_id) + cstr(password) + cstr("") + bytes([version, 0, 0]) + cstr("")


def submit_body(text: bytes = b"hello", source: str | bytes = "1000",
                destination: str | bytes = "989121234567", dest_ton: int = 1,
                tlvs: bytes = b"", registered_delivery: int = 0) -> bytes:
    return (cstr("") + bytes([1, 1]) + cstr(source) + bytes([dest_ton, 1]) + cstr(destination)
            + bytes([0, 0, 0]) + cstr("") + cstr("")
            + bytes([registered_delivery, 0, 0, 0, len(text)]) + text + tlvs)


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def address(number: str | bytes, ton: int = 1, npi: int = 1) -> bytes:
    return bytes([ton, npi]) + cstr(number)


def query_body(message_id: str, source: str = "1000") -> bytes:
    return cstr(message_id) + address(source)


def cancel_body(message_id: str, source: str = "1000", destination: str = "") -> bytes:
    return cstr("") + cstr(message_id) + address(source) + address(destination)


def replace_body(message_id: str, text: bytes, source: str = "1000",
                 registered_delivery: int = 0) -> bytes:
    return (cstr(message_id) + address(source) + cstr("") + cstr("")
            + bytes([registered_delivery, 0, len(text)]) + text)


def multi_body(destinations: list[str | tuple[str, str]], text: bytes = b"hello",
               source: str = "1000") -> bytes:
    """submit_multi: a str is an SME number, ("dl", NAME) a distribution list."""
    dests = b"".join(b"\x02" + cstr(d[1]) if isinstance(d, tuple) else b"\x01" + address(d)
                     for d in destinations)
    return (cstr("") + address(source) + bytes([len(destinations)]) + dests
            + bytes([0, 0, 0]) + cstr("") + cstr("") + bytes([0, 0, 0, 0, len(text)]) + text)


def data_body(text: bytes | None = b"hello", source: str = "1000",
              destination: str = "989121234567", registered_delivery: int = 0,
              tlvs: bytes = b"") -> bytes:
    payload = tlv(0x0424, text) if text is not None else b""
    return (cstr("") + address(source) + address(destination)
            + bytes([0, registered_delivery, 0]) + payload + tlvs)


def connect(router: RouterProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", router.port), timeout=5)


def read_pdu(s: socket.socket) -> tuple[int, int, int, bytes]:
    """One whole PDU (the socket's timeout bounds each recv)."""
    head = b""
    while len(head) < 16:
        chunk = s.recv(16 - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    length, command_id, status, seq = HEADER.unpack(head)
    body = b""
    while len(body) < length - 16:
        chunk = s.recv(length - 16 - len(body))
        if not chunk:
            raise ConnectionError("closed mid-PDU")
        body += chunk
    return command_id, status, seq, body


def assert_closed(s: socket.socket, timeout: float = 10.0) -> None:
    """The peer closed: EOF or a reset, read within ``timeout`` (a timeout fails)."""
    s.settimeout(timeout)
    with contextlib.suppress(ConnectionResetError):
        assert s.recv(1) == b""


def bound(router: RouterProcess, system_id: str = "esme1", version: int = 0x34
          ) -> socket.socket:
    s = connect(router)
    s.sendall(pdu(0x09, 1, bind_body(system_id, version=version)))
    command_id, status, _, _ = read_pdu(s)
    assert (command_id, status) == (0x80000009, 0)
    return s


def call(s: socket.socket, command_id: int, seq: int, body: bytes) -> tuple[int, bytes]:
    """Send one request, read its answer (which must be for it): (status, body)."""
    s.sendall(pdu(command_id, seq, body))
    resp, status, got, answer = read_pdu(s)
    assert (resp, got) == (command_id | 0x80000000, seq), (hex(resp), got)
    return status, answer


def assert_alive(router: RouterProcess) -> None:
    """A new session still binds and gets ESME_ROK for a submit; the process runs."""
    s = bound(router)
    s.sendall(pdu(0x04, 7, submit_body()))
    command_id, status, seq, body = read_pdu(s)
    assert (command_id, status, seq) == (0x80000004, 0, 7)
    assert body.rstrip(b"\0")
    s.close()
    assert router.proc is not None and router.proc.poll() is None


def no_crash_in_log(router: RouterProcess) -> None:
    """No connection died of an exception: asyncio logs those as "Fatal error on
    transport" (or "Exception in callback") with a traceback."""
    text = router.log_text()
    for marker in ("Fatal error on transport", "Traceback", "Exception in callback"):
        assert marker not in text, text[text.find(marker) - 200:][:3000]
