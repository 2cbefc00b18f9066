"""`evalsite serve`: preview a built site over HTTP on the loopback address."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

from evalsite.core.errors import InputError
from evalsite.core.progress import Console

HOST = "127.0.0.1"


def run_serve(site: Path, port: int, console: Console) -> None:
    """Serve SITE at http://127.0.0.1:PORT/ until Ctrl-C (which ends it normally); a port that cannot be
    listened on is an InputError."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    try:
        server = http.server.ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        raise InputError(f"cannot listen on {HOST}:{port}: {exc.strerror}") from None
    console.step(f"serving {site.resolve()} at http://{HOST}:{port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
