"""Which pages of which documents a run has done, so that a rerun with the same output skips them.

Beside the output OUT a small file OUT.pages.jsonl gets one line per page once all of the page's records
are written: the document's absolute path, the page, and the ids of its records. A page counts as done when
its line is there and every one of its ids is in the output, so a page without any structure is remembered
(it has no record to show for it) and a page whose records were lost from the output is read again.
"""

from __future__ import annotations

import json
from pathlib import Path

from chemvlm.record import PredictionWriter


class PageLog:
    def __init__(self, writer: PredictionWriter):
        self.writer = writer
        self.path = writer.path.with_name(writer.path.name + ".pages.jsonl")
        self._done: dict[str, set[int]] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    document, page, ids = row["document"], int(row["page"]), row["ids"]
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue  # a line cut by a kill: its page is read again
                if all(id in writer.done for id in ids):
                    self._done.setdefault(document, set()).add(page)

    def done(self, document: str | Path) -> set[int]:
        return self._done.get(str(Path(document).resolve()), set())

    def mark(self, document: str | Path, page: int, ids: list[str], seconds: float) -> None:
        document = str(Path(document).resolve())
        line = json.dumps({"document": document, "page": page, "ids": ids, "seconds": round(seconds, 3)})
        with self.path.open("a", encoding="utf-8") as handle:
            if handle.tell() and not self._ends_with_newline():
                handle.write("\n")  # after a line cut by a kill
            handle.write(line + "\n")
        self._done.setdefault(document, set()).add(page)

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, 2)
            return handle.read(1) == b"\n"
