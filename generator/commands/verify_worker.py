"""The worker process of `evalsite verify --predictor MODULE:FUNCTION` (see evalsite.commands.verify).

    python -P path/to/evalsite/commands/verify_worker.py MODULE:FUNCTION
    python -P -m evalsite.commands.verify_worker MODULE:FUNCTION     (the same)

imports the user's predictor and answers one JSON line on stdout per JSON line (an image path) on stdin:
first `{"ready": true}` (or `{"import_error": "..."}`, then it exits), then per image `{"result": ...}` (what
the function returned: a dict, or a JSON string of one) or `{"error": "..."}` (its exception; the traceback
goes to stderr). Whatever the predictor prints goes to stderr, so it cannot break this protocol. The parent
enforces the timeout per image by killing this process and starting another.

`evalsite verify` runs this very file by path, so the worker is always the parent's own (never an
`evalsite` found on the worker's sys.path: a user's folder named `evalsite`, another installation). It
imports the standard library only, and -P keeps the current folder (and this file's folder) off the front
of sys.path, so that nothing there can stand in for those modules either; only then is the current folder
appended to sys.path, where the user's MODULE is found (as `python -m` would have put it, but last).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback


def _send(channel, message: dict) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def _load(target: str):
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"expected package.module:function, found {target!r}")
    module = importlib.import_module(module_name)
    function = module
    for part in function_name.split("."):
        function = getattr(function, part)
    if not callable(function):
        raise TypeError(f"{target} is not callable")
    return function


def main(argv: list[str]) -> int:
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the predictor's own output (print, C libraries) goes to stderr
    sys.stdout = sys.stderr
    if len(argv) != 1:
        _send(channel, {"import_error": "usage: python -P -m evalsite.commands.verify_worker MODULE:FUNCTION"})
        return 2
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # after our own imports: see the module docstring
    try:
        function = _load(argv[0])
    except BaseException as exc:  # noqa: BLE001 - any failure to import is the user's to see
        _send(channel, {"import_error": f"{type(exc).__name__}: {exc}"})
        return 3
    _send(channel, {"ready": True})
    for line in sys.stdin:
        if not line.strip():
            continue
        path = json.loads(line)
        try:
            result = function(path)
            if isinstance(result, (str, bytes)):
                result = json.loads(result)
            text = json.dumps({"result": result})
        except Exception as exc:  # noqa: BLE001 - reported for this image, the next one still runs
            traceback.print_exc(file=sys.stderr)
            text = json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]})
        channel.write(text + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
