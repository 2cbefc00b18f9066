"""The fuzz suite's tools (tests/test_fuzz_*.py): hypothesis profiles, mutations of valid seed files, and the
one allowed outcome of a reader.

Every fuzz test starts from a VALID small input (so that a mutation reaches deep code, not only the first
parse error), mutates one file of it (bytes, tokens, JSON values and structure: truncation, wrong types, huge
numbers, NaN/inf, unicode, deep nesting, binary garbage) and calls a reader in-process. The reader must return
(its core type) or raise an EvalsiteError whose message is one line and names the file; any other exception,
an example slower than the deadline, or more memory than the cap, fails the test.

Profiles (EVALSITE_FUZZ selects one; `make fuzz` runs "long"):
  ci   (default) a few examples per test, derandomized, so that the test command stays fast and repeatable;
  long thousands of examples per test, random, for hunting (`EVALSITE_FUZZ=long pytest tests/test_fuzz_*.py`);
EVALSITE_FUZZ_EXAMPLES=N sets the number of examples per test of either.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalsite.core.errors import EvalsiteError

_COMMON = dict(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture],
               deadline=timedelta(seconds=5), print_blob=True)
settings.register_profile("ci", max_examples=40, derandomize=True, database=None, **_COMMON)
settings.register_profile("long", max_examples=2000, **_COMMON)
PROFILE = os.environ.get("EVALSITE_FUZZ", "ci")
if PROFILE not in ("ci", "long"):
    raise ValueError(f"EVALSITE_FUZZ={PROFILE!r}: expected ci or long")
# Applied to each fuzz test (not loaded globally: the other hypothesis tests keep their own settings).
# EVALSITE_FUZZ_EXAMPLES=N overrides the number of examples per test.
FUZZ = settings(settings.get_profile(PROFILE), **({"max_examples": int(os.environ["EVALSITE_FUZZ_EXAMPLES"])}
                                                  if os.environ.get("EVALSITE_FUZZ_EXAMPLES") else {}))

MEMORY_CAP = 2 * 1024 ** 3  # bytes of address space a reader may add while it runs


# ------------------------------------------------------------------------------------------ hostile values

HUGE = ["1e308", "-1e308", "1e999", "1180591620717411303424", "-1180591620717411303424", "9223372036854775808",
        "1e-320", "-0", "0", "-1", "4294967296"]
TEXT = ["", " ", "\u202eevil\u202c", "\u05e9\u05dc\u05d5\u05dd", "\u540d\u524d", "a\x00b", "\x00", "a\nb",
        "\ud83d\ude00", "x" * 300, "../../etc/passwd", "/etc/passwd", "<script>alert(1)</script>", "NaN", "inf",
        "-Infinity", "1e308", "null", "true", "{}", "[]", "0x10", "\ufeff", "a,b", '"', "'", "\\"]
# JSON text put in place of a value: huge numbers, NaN/inf (Python's json reads them), lone surrogates (JSON
# allows them as escapes), nesting deeper than any recursion limit, every JSON type.
RAW_JSON = [*HUGE, "NaN", "Infinity", "-Infinity", "null", "true", "false", '""', '"\\ud800"', '"\\u0000"',
            '"\\u202e"', "[]", "{}", "[[]]", '{"a": 1}', '"x"', "[1, 2, 3, 4, 5]", "[0, 0, 0, 0]",
            "[" * 3000 + "]" * 3000, '{"a":' * 3000 + "1" + "}" * 3000, '"' + "y" * 5000 + '"']


def _text_value() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HUGE + TEXT), st.text(max_size=20),
                     st.integers(-2 ** 70, 2 ** 70).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr))


def _json_value() -> st.SearchStrategy[str]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
    tree = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                        max_leaves=12)
    return st.one_of(st.sampled_from(RAW_JSON), tree.map(json.dumps))


# ---------------------------------------------------------------------------------------------- mutations

@st.composite
def _byte_mutation(draw, seed: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "insert", "flip", "delete", "empty", "garbage", "bom", "utf16",
                                 "repeat"]))
    at = draw(st.integers(0, len(seed)))
    if kind == "truncate":
        return seed[:at]
    if kind == "insert":
        return seed[:at] + draw(st.binary(min_size=1, max_size=16)) + seed[at:]
    if kind == "flip" and seed:
        at = min(at, len(seed) - 1)
        return seed[:at] + bytes([seed[at] ^ draw(st.integers(1, 255))]) + seed[at + 1:]
    if kind == "delete":
        return seed[:at] + seed[at + draw(st.integers(1, 32)):]
    if kind == "empty":
        return b""
    if kind == "garbage":
        return draw(st.binary(max_size=256))
    if kind == "bom":
        return b"\xef\xbb\xbf" + seed
    if kind == "utf16":
        return seed.decode("utf-8", "replace").encode("utf-16")
    return seed[:at] + seed[at:] * draw(st.integers(2, 5))  # repeat a tail: duplicated records


_TOKEN = re.compile(r"([\s,;:<>=\"'\[\]{}/]+)")


@st.composite
def _token_mutation(draw, seed: bytes) -> bytes:
    """Text formats (CSV, YOLO, XML, YAML, lists): a token or a line replaced, deleted or repeated."""
    text = seed.decode("utf-8", "replace")
    if draw(st.booleans()):
        parts = _TOKEN.split(text)
        tokens = [i for i, p in enumerate(parts) if p and not _TOKEN.fullmatch(p)]
        if tokens:
            for _ in range(draw(st.integers(1, 3))):
                parts[draw(st.sampled_from(tokens))] = draw(_text_value())
        text = "".join(parts)
    else:
        lines = text.split("\n")
        at = draw(st.integers(0, max(len(lines) - 1, 0)))
        kind = draw(st.sampled_from(["delete", "repeat", "replace", "swap"]))
        if kind == "delete":
            del lines[at]
        elif kind == "repeat":
            lines.insert(at, lines[at])
        elif kind == "replace":
            lines[at] = draw(_text_value())
        else:
            lines[at], lines[0] = lines[0], lines[at]
        text = "\n".join(lines)
    return text.encode("utf-8", "surrogatepass")


def _paths(value: object, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*path, index))


_SENTINEL = "\x01fuzz\x01"


@st.composite
def _json_mutation(draw, seed: bytes) -> bytes:
    """JSON (one document, or one a line): a value replaced by hostile JSON text, a key deleted, a list item
    repeated, a key renamed."""
    text = seed.decode("utf-8")
    documents = [json.loads(line) for line in text.splitlines() if line.strip()] if seed.lstrip()[:1] != b"[" \
        and text.count("\n") > 1 else [json.loads(text)]
    index = draw(st.integers(0, len(documents) - 1))
    root = documents[index]
    path = draw(st.sampled_from(list(_paths(root))))
    kind = draw(st.sampled_from(["replace", "replace", "delete", "repeat", "rename"]))
    raw = draw(_json_value())
    if not path:
        documents[index] = _SENTINEL
    else:
        parent = root
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        if kind == "delete":
            del parent[last]
        elif kind == "repeat" and isinstance(parent, list):
            parent.insert(last, json.loads(json.dumps(parent[last])))
        elif kind == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(TEXT))] = parent.pop(last)
        else:
            parent[last] = _SENTINEL
    quoted = json.dumps(_SENTINEL)
    lines = [json.dumps(d).replace(quoted, raw) for d in documents]
    return ("\n".join(lines) + "\n" if len(documents) > 1 else lines[0]).encode("utf-8")


def mutations(seed: bytes, structure: str = "text") -> st.SearchStrategy[bytes]:
    """Mutants of a valid seed file: byte-level always, plus token/line-level ("text") or value/structure-level
    ("json") changes; one to three mutations stacked."""
    if structure == "bytes":  # binary files (PNG masks): byte-level only
        return st.one_of(_byte_mutation(seed), _byte_mutation(seed).flatmap(_byte_mutation))
    structured = _json_mutation(seed) if structure == "json" else _token_mutation(seed)
    one = st.one_of(structured, structured, _byte_mutation(seed))
    if structure == "json":
        return one  # a second JSON mutation of a non-JSON mutant would not parse
    return st.one_of(one, one.flatmap(lambda first: st.one_of(_token_mutation(first), _byte_mutation(first))))


# --------------------------------------------------------------------------------------------- the outcome

@contextlib.contextmanager
def memory_cap(extra: int = MEMORY_CAP) -> Iterator[None]:
    """Address space capped at what the process has now plus `extra` (the soft limit, restored after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as handle:
        current = int(handle.read().split()[0]) * resource.getpagesize()
    limit = current + extra if hard == resource.RLIM_INFINITY else min(current + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def outcome(call: Callable[[], object], root: Path, expected: type | tuple[type, ...] | None = None) -> object:
    """The reader's result, or None after an EvalsiteError whose message is one line naming a file under
    `root` (the folder of the inputs). Any other exception propagates: that is a crash the test reports."""
    try:
        with memory_cap():
            result = call()
    except EvalsiteError as error:
        message = error.one_line() if hasattr(error, "one_line") else str(error)
        assert "\n" not in message and "\r" not in message, f"message on several lines: {message!r}"
        assert str(root) in message, f"message names no input file: {message!r}"
        return None
    if expected is not None:
        assert isinstance(result, expected), f"reader returned {type(result).__name__}"
    return result


@contextlib.contextmanager
def world(write: Callable[[Path], None]) -> Iterator[Path]:
    """A fresh folder with the seed files `write` puts in it (one per example: mutants never leak)."""
    root = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        write(root)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def put(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def fuzz_file(write: Callable[[Path], None], target: str, seed: bytes, structure: str,
              reader: Callable[[Path], object], expected: type | tuple[type, ...]) -> Callable[[], None]:
    """The fuzz test of one input file: in a fresh world made by `write`, `target` is replaced by each mutant of
    `seed`, and `reader(root)` must give an `expected` or a one-line EvalsiteError naming a file (`outcome`)."""

    @FUZZ
    @given(mutant=mutations(seed, structure))
    def run(mutant: bytes) -> None:
        with world(write) as root:
            put(root / target, mutant)
            outcome(lambda: reader(root), root, expected)

    return run
