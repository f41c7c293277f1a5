"""A TCP proxy in front of a database server that can cut the line: the network fault of
a restarted server or a broken path, injected for real (no mocks).

``cut()`` closes every open connection and from then on accepts each new one only to
close it at once (the client sees the server hang up, as while PostgreSQL restarts);
``restore()`` forwards again. ``refused`` counts the connections turned away, so a test
can wait until the clients have actually tried during the outage.
"""

from __future__ import annotations

import socket
import threading


class DatabaseProxy:
    def __init__(self, upstream_host: str = "127.0.0.1", upstream_port: int = 5432):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[tuple[socket.socket, socket.socket]] = []
        self._up = True
        self._closed = False
        self.refused = 0
        self.accepted = 0
        threading.Thread(target=self._accept_loop, name="db-proxy", daemon=True).start()

    def url(self, database: str = "test", user: str = "postgres", query: str = "") -> str:
        suffix = f"?{query}" if query else ""
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}{suffix}"

    def cut(self) -> None:
        """Drop every open connection and turn new ones away until ``restore()``."""
        with self._lock:
            self._up = False
            pairs, self._open = self._open, []
        for pair in pairs:
            for sock in pair:
                _close(sock)

    def restore(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        _close(self._listener)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                up = self._up
                if not up:
                    self.refused += 1
            if not up:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if not self._up:  # cut while connecting
                    self.refused += 1
                    _close(client)
                    _close(server)
                    continue
                self.accepted += 1
                self._open.append((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(
                    target=_pump, args=(source, target), name="db-proxy-pump", daemon=True
                ).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
