"""`evalsite serve` serves what a static host would, and nothing else: files inside the site, no listings, only
to its own Host, and never a traceback (each case here once gave a traceback or an outside file)."""

from __future__ import annotations

import http.client
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalsite.cli import main
from evalsite.commands.serve import site_server


@pytest.fixture()
def served(tmp_path: Path):
    site = tmp_path / "site"
    (site / "task" / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<html>root</html>", encoding="utf-8")
    (site / "task" / "index.html").write_text("<html>task</html>", encoding="utf-8")
    (site / "task" / "assets" / "a.js").write_text("var a = 1;", encoding="utf-8")
    (site / "inputs").mkdir()
    (site / "inputs" / "model.pkl").write_bytes(b"secret weights")
    secret = tmp_path / "outside.txt"
    secret.write_text("outside the site", encoding="utf-8")
    os.symlink(secret, site / "link.txt")
    os.symlink(tmp_path, site / "up")
    server = site_server(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def get(port: int, path: str, host: str | None = None) -> tuple[int, bytes, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("GET", path, skip_host=True)
    connection.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body, dict(response.getheaders())


def test_files_and_folders_of_the_site(served: int) -> None:
    assert get(served, "/")[:2] == (200, b"<html>root</html>")
    assert get(served, "/task/")[:2] == (200, b"<html>task</html>")
    status, _, headers = get(served, "/task")
    assert status == 301 and headers["Location"] == "/task/"
    status, body, headers = get(served, "/task/assets/a.js")
    assert status == 200 and body == b"var a = 1;" and "javascript" in headers["Content-Type"]
    assert get(served, "/task/index.html", host=f"localhost:{served}")[0] == 200


@pytest.mark.parametrize("path", ["/inputs/", "/task/assets/", "/link.txt", "/up/outside.txt", "/%00",
                                  "/task/%00index.html", "/../outside.txt", "/%2e%2e/outside.txt", "/nothing"])
def test_no_listing_no_outside_file_no_traceback(served: int, path: str) -> None:
    status, body, _ = get(served, path)
    assert status == 404
    assert b"outside the site" not in body and b"model.pkl" not in body and b"Traceback" not in body
    assert get(served, "/")[0] == 200  # still serving


@pytest.mark.parametrize("host", ["evil.example", "rebound.example:8000", "127.0.0.1:1", ""])
def test_other_hosts_are_refused(served: int, host: str) -> None:
    status, body, _ = get(served, "/", host=host)
    assert status == 421 and b"root" not in body


@pytest.mark.parametrize("port", ["70000", "-1", "0"])
def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path, port: str) -> None:
    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--port", port])
    assert result.exit_code == 2
    assert "--port" in result.output and "Traceback" not in result.output
