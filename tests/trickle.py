"""An HTTP server on loopback that answers one byte every half second, for ever: the slow
geolocation API that per-read timeouts never catch."""

import contextlib
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def trickling_server() -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            reply = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[{"status": "'
            for byte in reply + b"x" * 10_000:
                if stop.wait(0.5):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
