"""JSON Lines (and other UTF-8 text files) read with line numbers, so that every complaint names the file
and the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

from chemvlm.errors import InputError


class JsonlError(InputError, ValueError):
    """A line that is not a JSON object: "FILE:LINE: why"."""


def text_lines(path: str | Path, error: type[Exception] = JsonlError,
               on_error: Callable[[str, str], None] | None = None) -> Iterator[tuple[str, str]]:
    """("FILE:LINE", text) for every line of a UTF-8 file, its line ending kept. Each line is decoded on
    its own (a text-mode reader decodes ahead and cannot say on which line a bad byte is): a line that
    is not UTF-8 raises `error("FILE:LINE: not UTF-8 text (byte 0xNN)")`, or, when `on_error` is given,
    is reported to it as (where, why) and skipped."""
    path = Path(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                problem = f"not UTF-8 text (byte {raw[err.start]:#04x})"
                if on_error is None:
                    raise error(f"{where}: {problem}") from None
                on_error(where, problem)
                continue
            yield where, line


def iter_jsonl(path: str | Path, error: type[Exception] = JsonlError,
               on_error: Callable[[str, str], None] | None = None) -> Iterator[tuple[str, dict]]:
    """("FILE:LINE", object) for every non-blank line. A bad line (not UTF-8, not JSON, not an object)
    raises `error("FILE:LINE: why")`, or, when `on_error` is given, is reported to it as (where, why) and
    skipped, so that a long job loses nothing."""
    for where, line in text_lines(path, error, on_error):
        if not line.strip():
            continue
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
