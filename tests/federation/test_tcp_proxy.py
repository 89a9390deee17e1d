"""The test proxy cuts a link completely (open connections and new ones) and restores it:
the federation test's guarantee rests on it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.federation.tcp_proxy import TcpProxy


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))

    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(100):
                conn.sendall(data)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_the_proxy_cuts_and_restores_the_link(echo_port: int) -> None:
    proxy = TcpProxy(echo_port)
    proxy.start()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as open_link:
            open_link.sendall(b"hello")
            assert open_link.recv(10) == b"hello"
            proxy.stop()
            assert open_link.recv(10) == b"", "an open connection is cut"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        proxy.start()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as again:
            again.sendall(b"back")
            assert again.recv(10) == b"back"
    finally:
        proxy.stop()
