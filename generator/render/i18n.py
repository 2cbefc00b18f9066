"""The message catalogue (templates/messages.yaml): every sentence users read, in English and Chinese."""

from __future__ import annotations

from functools import lru_cache

import yaml

from evalsite.core.resources import templates_dir

LANGUAGES = ("zh", "en")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    with open(templates_dir() / "messages.yaml", encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    for key, entry in data.items():
        missing = [lang for lang in LANGUAGES if lang not in entry]
        if missing:
            raise RuntimeError(f"message {key!r} has no {', '.join(missing)} text")
    return data


class Messages:
    """`t(key, **values)`: the message in this language, with `{name}` placeholders filled.

    Values must already be escaped for where the message goes (see evalsite.render.text).
    """

    def __init__(self, language: str):
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}")
        self.language = language

    def __call__(self, key: str, **values: object) -> str:
        try:
            text = catalogue()[key][self.language]
        except KeyError:
            raise KeyError(f"no message {key!r} in the catalogue") from None
        return text.format(**values) if values else text
