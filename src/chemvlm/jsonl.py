"""JSON Lines read with line numbers, so that every complaint names the file and the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

from chemvlm.errors import InputError


class JsonlError(InputError, ValueError):
    """A line that is not a JSON object: "FILE:LINE: why"."""


def iter_jsonl(path: str | Path, error: type[Exception] = JsonlError,
               on_error: Callable[[str, str], None] | None = None) -> Iterator[tuple[str, dict]]:
    """("FILE:LINE", object) for every non-blank line. A bad line raises `error("FILE:LINE: why")`, or, when
    `on_error` is given, is reported to it as (where, why) and skipped, so that a long job loses nothing."""
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
                problem = None if isinstance(obj, dict) else f"expected a JSON object, got {type(obj).__name__}"
            except json.JSONDecodeError as err:
                problem = f"not valid JSON ({err.msg})"
            if problem is None:
                yield where, obj
            elif on_error is None:
                raise error(f"{where}: {problem}")
            else:
                on_error(where, problem)
