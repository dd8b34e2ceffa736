"""A feed's download with a total deadline (SECURITY_FEED_DOWNLOAD_DEADLINE) and a size cap.

`requests` timeouts bound each socket read, not the download, so it runs in a helper thread
that the caller waits for at most the deadline; past it the connection is shut down, which
ends the helper's read, and the feed fails like any broken download."""

import contextlib
import socket
import threading

import requests

from .config import blocking_conf
from .feed_formats import FeedError

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024


class Download(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(name="security-feed-download", daemon=True)
        self.url = url
        self.body = bytearray()
        self.error: FeedError | None = None
        self.response: requests.Response | None = None

    def run(self) -> None:
        try:
            with requests.get(self.url, stream=True, timeout=(5, 30)) as response:
                self.response = response
                if response.status_code != 200:
                    raise FeedError(f"{self.url} answered HTTP {response.status_code}")
                for chunk in response.iter_content(65536):
                    self.body += chunk
                    if len(self.body) > MAX_DOWNLOAD_BYTES:
                        raise FeedError(f"{self.url} is larger than {MAX_DOWNLOAD_BYTES:,} bytes")
        except FeedError as error:
            self.error = error
        except Exception as error:  # a cancelled read fails in many ways; report one
            self.error = FeedError(f"cannot download {self.url}: {type(error).__name__}")

    def cancel(self) -> None:
        connection = getattr(getattr(self.response, "raw", None), "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def download(url: str) -> bytes:
    deadline = blocking_conf.FEED_DOWNLOAD_DEADLINE
    job = Download(url)
    job.start()
    job.join(deadline)
    if job.is_alive():
        job.cancel()
        raise FeedError(f"{url} was not downloaded within {deadline:g}s (its deadline)")
    if job.error is not None:
        raise job.error
    return bytes(job.body)
