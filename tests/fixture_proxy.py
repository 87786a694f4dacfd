"""A TCP proxy between ssh and the test sshd that can stall or cut connections.

``Proxy(target_port)`` listens on 127.0.0.1 and forwards every connection to
the target.  ``fault(kind, direction, after)`` arms a fault for every
connection, counted in bytes that flowed in ``direction`` ("down": server to
client, "up": client to server) since the connection began:

* ``stall``: from that byte on nothing is forwarded, but both sockets stay
  open (a network that stops delivering: only timeouts can tell);
* ``cut``: both sockets are closed (the connection breaks off).

``silence()`` lets nothing come back from the server from now on and refuses
new connections (a request arrives, its answer is lost, and the look that
would tell what happened fails too).

``clear()`` disarms it for new connections, ``drop()`` closes the ones made so
far; ``bytes(direction)`` is what the connections carried so far.
"""
from __future__ import annotations

import socket
import threading

__all__ = ["Proxy"]


class Proxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1"):
        self.target = (host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.armed: tuple[str, str, int] | None = None
        self.silent = False       # nothing comes back any more (silence())
        self.carried = {"down": 0, "up": 0}
        self.tripped = 0          # connections the fault hit
        self.conns: list[socket.socket] = []
        self.pumps: list[threading.Thread] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def fault(self, kind: str, direction: str, after: int) -> None:
        """The next connections stall or are cut after ``after`` bytes one way; the
        connections made so far are closed (none is left without the fault: one
        being set up meanwhile either sees the fault or is closed)."""
        assert kind in ("stall", "cut") and direction in ("down", "up")
        with self.lock:
            self.armed = (kind, direction, after)
        self.drop()

    def clear(self) -> None:
        with self.lock:
            self.armed, self.silent = None, False

    def silence(self) -> None:
        """From now on nothing comes back from the server, and new connections are refused."""
        with self.lock:
            self.silent = True

    def bytes(self, direction: str) -> int:
        with self.lock:
            return self.carried[direction]

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                fault = self.armed
                self.conns += [client, server]
                refused = self.silent
            if refused:
                self._close(client, server)
                continue
            state = {"down": 0, "up": 0, "stalled": False}
            for src, dst, d in ((server, client, "down"), (client, server, "up")):
                t = threading.Thread(target=self._pump, args=(src, dst, d, fault, state),
                                     daemon=True)
                with self.lock:
                    self.pumps.append(t)
                t.start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str, fault, state) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._close(src, dst)
                return
            if state["stalled"] or self.silent and direction == "down":
                continue          # swallow: nothing reaches the other side any more
            if fault and fault[1] == direction and state[direction] + len(data) > fault[2]:
                self._send(dst, data[:max(0, fault[2] - state[direction])], direction, state)
                with self.lock:
                    self.tripped += 1
                if fault[0] == "cut":
                    self._close(src, dst)
                    return
                state["stalled"] = True
                continue
            self._send(dst, data, direction, state)

    def _send(self, dst: socket.socket, data: bytes, direction: str, state) -> None:
        if not data:
            return
        state[direction] += len(data)
        with self.lock:
            self.carried[direction] += len(data)
        try:
            dst.sendall(data)
        except OSError:
            pass

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def drop(self) -> None:
        """Close every connection made so far (new ones are still taken), and wait
        until nothing more is forwarded on them."""
        with self.lock:
            conns, self.conns = self.conns, []
            pumps, self.pumps = self.pumps, []
        self._close(*conns)
        for t in pumps:
            t.join(timeout=5)

    def close(self) -> None:
        """Stop taking connections (a thread blocked in accept() is woken: a closed
        listener it still waits on would go on listening) and close them all."""
        self.closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.drop()
