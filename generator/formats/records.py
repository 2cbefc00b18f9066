"""Line-numbered records from CSV and JSONL files, labels files, and the checks every reader shares."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from evalsite.core.encodings import decode_utf8
from evalsite.core.errors import InputError


def read_text(path: Path) -> str:
    """A UTF-8 text file (with or without a byte-order mark); another encoding is an error naming it."""
    return decode_utf8(path, read_bytes(path))


def read_bytes(path: Path) -> bytes:
    """A file's bytes; a missing file, a folder or an unreadable file is an InputError."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except IsADirectoryError:
        raise InputError("expected a file, found a folder", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None


def lines(text: str) -> list[str]:
    """Lines split at \\n (and \\r\\n) only: str.splitlines() would also split at U+2028, U+0085, form feeds
    and other characters that are ordinary text inside a CSV cell or a JSON string."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def csv_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the (line number, cells) of every non-empty row, every row as wide as the header."""
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", path, "line 1") from None
    if not header or not any(cell.strip() for cell in header):
        raise InputError("empty CSV file: expected a header row", path, "line 1")
    header = [cell.strip() for cell in header]

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError(f"malformed CSV: {exc}", path, f"line {reader.line_num}") from None
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputError(f"expected {len(header)} columns as in the header, found {len(row)}",
                                 path, f"line {reader.line_num}")
            yield reader.line_num, [cell.strip() for cell in row]

    return header, rows()


def jsonl_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; each line must be a JSON object."""
    for number, line in enumerate(lines(read_text(path)), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", path, f"line {number}") from None
        except RecursionError:
            raise InputError("malformed JSON: nested too deeply", path, f"line {number}") from None
        except ValueError as exc:  # e.g. an integer with more digits than Python converts
            raise InputError(f"malformed JSON: {exc}", path, f"line {number}") from None
        if not isinstance(record, dict):
            raise InputError("each line must be a JSON object", path, f"line {number}")
        yield number, record


def parse_score(value: object, path: Path, record: str, what: str, text_allowed: bool = True) -> float:
    """A finite score. Scores need not be probabilities (logits, decision values) but must be numbers.

    CSV cells are text by nature; in JSON (`text_allowed=False`) a score must be a JSON number."""
    if isinstance(value, bool) or (not text_allowed and not isinstance(value, (int, float))):
        raise InputError(f"{what}: expected a number, found {value!r}", path, record)
    try:
        score = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{what}: expected a number, found {value!r}", path, record) from None
    if not math.isfinite(score):
        raise InputError(f"{what}: score must be finite, found {value!r}", path, record)
    return score


def normalise_image_path(raw: object, images_root: Path, path: Path, record: str) -> str:
    """The image's path relative to the images root, in POSIX form. Paths may not leave the root."""
    if (type(raw) is str and raw.isprintable() and "/" not in raw and "\\" not in raw and raw not in ("", ".", "..")
            and raw.strip() == raw):
        return raw  # a plain file name (the common case, 5,000 times in a COCO file): what the steps below give
    if not isinstance(raw, str) or not raw.strip():
        raise InputError("missing image path", path, record)
    text = raw.strip().replace("\\", "/")
    if any(ord(ch) < 32 for ch in text):
        raise InputError(f"image path {raw!r} contains control characters", path, record)
    candidate = PurePosixPath(text)
    if candidate.is_absolute():
        root = images_root.resolve()
        try:
            candidate = PurePosixPath(Path(text).resolve().relative_to(root).as_posix())
        except ValueError:
            raise InputError(f"image path {raw!r} is outside the images root {root}", path, record) from None
    parts = [p for p in candidate.parts if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InputError(f"image path {raw!r} escapes the images root", path, record)
    return "/".join(parts)


def read_labels_file(path: Path) -> list[str]:
    """The names of a labels file, one a line (blank lines skipped); a repeated name is an error."""
    labels: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines(read_text(path)), start=1):
        name = line.strip()
        if not name:
            continue
        if name in seen:
            raise InputError(f"label {name!r} repeats line {seen[name]}", path, f"line {number}")
        seen[name] = number
        labels.append(name)
    if not labels:
        raise InputError("the labels file lists no labels", path)
    return labels


def is_number(text: str) -> bool:
    """Whether `text` reads as a number (as float() reads it: "1e3", "nan" and "inf" too)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
