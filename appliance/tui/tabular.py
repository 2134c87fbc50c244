"""Job output pages (TSV or CSV text, cut anywhere) as table rows."""

from __future__ import annotations

import csv
from typing import Any


class TableReader:
    """Feed pages in order; get back the complete rows each page finishes.

    The delimiter is chosen from the first line: a tab means TSV (read literally,
    quotes are data), otherwise a comma means CSV (quoted fields allowed), else one
    column. A line cut by the page boundary is kept until the next page completes it.
    """

    def __init__(self) -> None:
        self._rest = ""
        self._dialect: dict[str, Any] | None = None
        self.width = 0  # the most fields seen in a row

    def feed(self, text: str, eof: bool = False) -> list[list[str]]:
        """Rows completed by `text`; with `eof` the last unterminated line too."""
        data = self._rest + text
        if eof:
            complete, self._rest = data, ""
        else:
            cut = data.rfind("\n") + 1
            complete, self._rest = data[:cut], data[cut:]
        if not complete:
            return []
        if self._dialect is None:
            first = complete.split("\n", 1)[0]
            if "\t" in first:
                self._dialect = {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
            elif "," in first:
                self._dialect = {"delimiter": ","}
            else:
                self._dialect = {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
        rows = [row for row in csv.reader(complete.splitlines(), **self._dialect) if row]
        for row in rows:
            self.width = max(self.width, len(row))
        return rows
