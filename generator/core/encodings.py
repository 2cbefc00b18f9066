"""Text files are UTF-8 (with or without a byte-order mark). Anything else is refused, with a guess of the
encoding it is in and the command that converts it (docs/inputs.md, "Text encodings").

The guess is a heuristic on the bytes, never used to read the file: a wrong guess costs a wrong hint, a
silently misread file would cost wrong numbers.
"""

from __future__ import annotations

from pathlib import Path

from evalsite.core.errors import InputError

# (codec name for iconv and Python, what to call it in the message)
_UTF16_LE, _UTF16_BE = ("UTF-16", "UTF-16 (little-endian)"), ("UTF-16", "UTF-16 (big-endian)")
_GBK = ("GBK", "GBK (simplified Chinese, Windows code page 936)")
_GB18030 = ("GB18030", "GB18030 (Chinese)")
_BIG5 = ("BIG5", "Big5 (traditional Chinese)")
_SJIS = ("SHIFT_JIS", "Shift-JIS (Japanese)")
_CP1252 = ("CP1252", "Windows-1252 / Latin-1 (Western European)")


def _decodes(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _high_pairs(data: bytes) -> tuple[int, int, int]:
    """(bytes >= 0x80, of those the ones next to another such byte, double-byte pairs with a trail >= 0xA1).
    East Asian double-byte text has its high bytes in pairs; Western single-byte text has them alone."""
    high = paired = gb2312_like = 0
    i, n = 0, len(data)
    while i < n:
        if data[i] < 0x80:
            i += 1
            continue
        high += 1
        if i + 1 < n and data[i + 1] >= 0x40 and (data[i + 1] >= 0x80 or data[i] >= 0x81):
            if data[i + 1] >= 0x80:
                high += 1
                paired += 2
            if 0xA1 <= data[i + 1] <= 0xFE and 0xA1 <= data[i] <= 0xF7:
                gb2312_like += 1
            i += 2
            continue
        i += 1
    return high, paired, gb2312_like


def guess_encoding(data: bytes) -> tuple[str, str] | None:
    """(iconv name, description) of the encoding `data` most likely is in, or None without a guess."""
    if data.startswith(b"\xff\xfe"):
        return _UTF16_LE
    if data.startswith(b"\xfe\xff"):
        return _UTF16_BE
    sample = data[:1 << 16]
    if sample and sample.count(0) > len(sample) // 4:  # ASCII text in UTF-16 without a byte-order mark
        return _UTF16_LE if sample[1::2].count(0) > sample[0::2].count(0) else _UTF16_BE
    high, paired, gb2312_like = _high_pairs(sample)
    if not high:
        return None
    if paired < high / 2:  # high bytes mostly alone: a single-byte Western code page
        return _CP1252
    sjis = _decodes(sample, "shift_jis")
    if sjis is not None:
        non_ascii = [c for c in sjis if ord(c) >= 0x80]
        kana = sum(1 for c in non_ascii if "\u3040" <= c <= "\u30ff")  # not half-width kana: Big5 lead bytes
        if non_ascii and kana >= len(non_ascii) / 4:
            return _SJIS
    pairs = paired // 2 or 1
    if _decodes(sample, "gbk") is not None and gb2312_like >= 0.9 * pairs:
        return _GBK
    if _decodes(sample, "big5") is not None:
        return _BIG5
    if _decodes(sample, "gbk") is not None:
        return _GBK
    if _decodes(sample, "gb18030") is not None:
        return _GB18030
    return _CP1252 if _decodes(sample, "cp1252") is not None else None


def not_utf8(path: Path, data: bytes, position: int) -> InputError:
    """The error for a file that is not UTF-8: the likely encoding and how to convert it."""
    guess = guess_encoding(data)
    out = f"{path.stem}.utf8{path.suffix}"
    if guess is None:
        return InputError(f"not UTF-8 text (byte {position}); save it as UTF-8", path)
    codec, name = guess
    return InputError(
        f"not UTF-8 text (byte {position}): looks like {name}; convert it to UTF-8, e.g. "
        f"`iconv -f {codec} -t UTF-8 {path.name} > {out}` or in Python "
        f"`Path('{out}').write_text(Path('{path.name}').read_text(encoding='{codec.lower()}'), encoding='utf-8')`",
        path)


def decode_utf8(path: Path, data: bytes) -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped); any other encoding is an InputError."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise not_utf8(path, data, 0)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise not_utf8(path, data, exc.start) from None
