"""What checking image files found (evalsite.formats.images reads them; the reports show it): one image's
`ImageInfo`, and many images' as columns (`ImageChecks`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from evalsite.core.enums import ImageStatus


@dataclass
class ImageInfo:
    status: str  # ok | missing | unreadable
    width: int | None = None
    height: int | None = None
    problem: str | None = None


# The codes of `ImageChecks.status`
STATUSES = tuple(status.value for status in ImageStatus)


class ImageChecks(Sequence[ImageInfo]):
    """The checks of many images, as columns: a status code (into `STATUSES`), the width and height (-1:
    None) and the problems of the images that have one: about 9 bytes an image, where a list of `ImageInfo`
    objects takes about 200 (40 MB at 200,000 images, on a cluster's driver from the image checks to the
    report's end). Item k is image k's `ImageInfo`, made when it is read; a slice is the checks of its
    images.

    >>> checks = ImageChecks.of([ImageInfo("ok", 640, 480), ImageInfo("missing", problem="file not found")])
    >>> checks[1]
    ImageInfo(status='missing', width=None, height=None, problem='file not found')
    >>> list(checks[:1]) == [ImageInfo("ok", 640, 480)]
    True
    """

    def __init__(self, status: np.ndarray, width: np.ndarray, height: np.ndarray, problems: dict[int, str]):
        self.status, self.width, self.height, self.problems = status, width, height, problems

    @classmethod
    def of(cls, infos: Iterable[ImageInfo]) -> ImageChecks:
        """The checks `infos`, as columns (itself when it is `ImageChecks` already: the reports take either)."""
        if isinstance(infos, ImageChecks):
            return infos
        infos = list(infos)
        code = {status: k for k, status in enumerate(STATUSES)}
        return cls(status=np.array([code[info.status] for info in infos], np.int8),
                   width=np.array([-1 if info.width is None else info.width for info in infos], np.int32),
                   height=np.array([-1 if info.height is None else info.height for info in infos], np.int32),
                   problems={k: info.problem for k, info in enumerate(infos) if info.problem is not None})

    @classmethod
    def joined(cls, parts: Sequence[ImageChecks]) -> ImageChecks:
        """The checks of `parts`' images, in their order."""
        starts = np.cumsum([0] + [len(part) for part in parts]).tolist()
        return cls(status=np.concatenate([p.status for p in parts] or [np.zeros(0, np.int8)]),
                   width=np.concatenate([p.width for p in parts] or [np.zeros(0, np.int32)]),
                   height=np.concatenate([p.height for p in parts] or [np.zeros(0, np.int32)]),
                   problems={start + k: problem for start, part in zip(starts, parts)
                             for k, problem in part.problems.items()})

    def __len__(self) -> int:
        return len(self.status)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise ValueError("ImageChecks: a slice with a step")
            return ImageChecks(self.status[start:stop], self.width[start:stop], self.height[start:stop],
                               {k - start: p for k, p in self.problems.items() if start <= k < stop})
        k = range(len(self))[key]
        width, height = int(self.width[k]), int(self.height[k])
        return ImageInfo(STATUSES[self.status[k]], None if width < 0 else width, None if height < 0 else height,
                         self.problems.get(k))

    def __iter__(self) -> Iterator[ImageInfo]:
        for k, (status, width, height) in enumerate(zip(self.status.tolist(), self.width.tolist(),
                                                        self.height.tolist())):
            yield ImageInfo(STATUSES[status], None if width < 0 else width, None if height < 0 else height,
                            self.problems.get(k))

    def with_status(self, status: str) -> int:
        """How many images have `status`."""
        return int(np.count_nonzero(self.status == STATUSES.index(status)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ImageChecks({len(self)} images)"
