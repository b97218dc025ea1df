"""crisp/stack.py (`make run`): ports chosen before anything starts, and which process stopped the set."""

from __future__ import annotations

import datetime
import io
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from honcho.printer import Message

from crisp import settings as crisp_settings
from crisp import stack


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.fixture
def ports(monkeypatch: Any) -> Any:
    """Set what crisp.settings read from PORT / CRISP_DEMO_TAXII_PORT; restore the environment."""
    monkeypatch.setenv("PORT", os.environ.get("PORT", ""))
    monkeypatch.setenv("CRISP_DEMO_TAXII_PORT", os.environ.get("CRISP_DEMO_TAXII_PORT", ""))

    def configure(port: int, demo: int | None = None) -> None:
        monkeypatch.setattr(crisp_settings, "PORT", port)
        monkeypatch.setattr(crisp_settings, "CRISP_DEMO_TAXII_PORT_REQUESTED", demo)

    return configure


def test_busy_web_port_stops_with_one_sentence(ports: Any, busy_port: int) -> None:
    ports(busy_port)
    with pytest.raises(SystemExit, match=rf"^crisp: port {busy_port} is in use; set PORT="):
        stack.choose_ports()


def _port_with_a_free_next_one() -> int:
    for _ in range(100):
        port = stack.free_port()
        if port < 65535 and stack.port_is_free(port + 1):
            return port
    raise AssertionError("no free port followed by a free port")


def test_demo_port_defaults_to_port_plus_one(ports: Any) -> None:
    web = _port_with_a_free_next_one()
    ports(web)
    assert stack.choose_ports() == (web, web + 1)
    assert os.environ["PORT"] == str(web) and os.environ["CRISP_DEMO_TAXII_PORT"] == str(web + 1)


def test_taken_default_demo_port_is_replaced_by_a_free_one(ports: Any, capsys: Any) -> None:
    web = _port_with_a_free_next_one()
    ports(web)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", web + 1))
        listener.listen()
        assert stack.choose_ports()[0] == web
    demo = int(os.environ["CRISP_DEMO_TAXII_PORT"])
    assert demo not in (web, web + 1)
    assert f"port {web + 1} is in use; the demo TAXII server uses port {demo}" in capsys.readouterr().out


def test_taken_requested_demo_port_stops(ports: Any, busy_port: int) -> None:
    ports(stack.free_port(), busy_port)
    with pytest.raises(SystemExit, match=rf"port {busy_port} \(CRISP_DEMO_TAXII_PORT\) is in use"):
        stack.choose_ports()


def _system(printer: stack.ExitWatchingPrinter, line: str) -> None:
    printer.write(Message("line", line + "\n", datetime.datetime.now(), "system", None))


def test_printer_names_the_process_that_exited_on_its_own() -> None:
    printer = stack.ExitWatchingPrinter(io.StringIO())
    _system(printer, "web.1 started (pid=1)")
    _system(printer, "beat.1 stopped (rc=1)")
    _system(printer, "sending SIGTERM to web.1 (pid 1)")
    _system(printer, "web.1 stopped (rc=-15)")
    assert printer.culprit == ("beat.1", 1) and not printer.signalled
    assert "system | beat.1 stopped (rc=1)" in printer.output.getvalue()


def test_printer_after_ctrl_c_names_nobody() -> None:
    printer = stack.ExitWatchingPrinter(io.StringIO())
    _system(printer, "SIGINT received")
    _system(printer, "web.1 stopped (rc=-15)")
    assert printer.signalled and printer.culprit is None
