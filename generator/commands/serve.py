"""`evalsite serve`: preview a built site over HTTP on the loopback address.

Only what a static host would serve: regular files inside the site (symlinks resolved, so a link that leads out
of the site is not followed), `index.html` for a folder and never a listing, and only to requests whose Host
header names the address it is bound to (a page of another site that points a DNS name at 127.0.0.1 cannot read
the reports: DNS rebinding). A bad request gets an HTTP error, never a traceback.
"""

from __future__ import annotations

import email.utils
import functools
import http.server
import os
import shutil
import urllib.parse
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO

from evalsite.core.errors import InputError
from evalsite.core.progress import Console

HOST = "127.0.0.1"
MIN_PORT, MAX_PORT = 1, 65535


class SiteServer(http.server.ThreadingHTTPServer):
    """The server of one site folder (`root`, resolved) answering only to `allowed_hosts`."""

    daemon_threads = True

    def __init__(self, root: Path, port: int):
        self.root = root.resolve()
        super().__init__((HOST, port), functools.partial(SiteRequestHandler, directory=str(self.root)))
        bound = self.server_address[1]
        self.allowed_hosts = frozenset({f"{HOST}:{bound}", f"localhost:{bound}"}
                                       | ({HOST, "localhost"} if bound == 80 else set()))


class SiteRequestHandler(http.server.SimpleHTTPRequestHandler):
    server: SiteServer

    def send_head(self) -> BinaryIO | None:  # type: ignore[override]
        if (self.headers.get("Host") or "").lower() not in self.server.allowed_hosts:
            self.send_error(HTTPStatus.MISDIRECTED_REQUEST, "unknown Host")
            return None
        url_path = urllib.parse.urlsplit(self.path).path
        try:
            path = Path(self.translate_path(self.path))
            if path.is_dir():
                if not url_path.endswith("/"):  # as a static host does: folder/ -> its index.html
                    self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                    self.send_header("Location", urllib.parse.quote(url_path) + "/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                path = path / "index.html"
            real = path.resolve(strict=True)
            if not real.is_relative_to(self.server.root) or not real.is_file():
                raise FileNotFoundError(path)
            file = open(real, "rb")  # the base class copies and closes it
        except (OSError, ValueError):  # not found, outside the site, a NUL byte or another unusable name
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        stat = os.fstat(file.fileno())
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", self.guess_type(str(real)))
        self.send_header("Content-Length", str(stat.st_size))
        self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
        self.end_headers()
        return file

    def list_directory(self, path):  # never a listing (a folder without index.html is not found)
        self.send_error(HTTPStatus.NOT_FOUND, "File not found")
        return None

    def copyfile(self, source, outputfile) -> None:
        try:
            shutil.copyfileobj(source, outputfile)
        except (BrokenPipeError, ConnectionResetError):  # the browser went away
            pass


def site_server(site: Path, port: int) -> SiteServer:
    """A server of SITE on 127.0.0.1:PORT (0: any free port); a port that cannot be listened on is an
    InputError."""
    if port != 0 and not MIN_PORT <= port <= MAX_PORT:
        raise InputError(f"port {port} is not between {MIN_PORT} and {MAX_PORT}", None, "--port")
    try:
        return SiteServer(site, port)
    except OSError as exc:
        raise InputError(f"cannot listen on {HOST}:{port}: {exc.strerror}") from None


def run_serve(site: Path, port: int, console: Console) -> None:
    """Serve SITE at http://127.0.0.1:PORT/ until Ctrl-C (which ends it normally)."""
    server = site_server(site, port)
    console.step(f"serving {server.root} at http://{HOST}:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
