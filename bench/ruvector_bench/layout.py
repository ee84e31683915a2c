"""Tables that stay readable in any terminal: a table when it fits, blocks when it does not.

The figures table has ten columns; squeezed into 80 terminal columns rich folds its cells
mid-word ("overhe|ad"). A table is drawn only when every column can be as wide as its
longest word (so cells wrap between words); otherwise each row becomes a block, its first
two cells as a heading and the others (those with a value) as ``column: value`` lines,
which wrap between words at any width."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

#: what an empty figure shows in a table; left out of a block
EMPTY = "—"
#: a cell's padding (one space each side) and its share of the vertical rules
CELL_EXTRA = 3


def minimum_width(header: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """Columns a table needs so that no cell breaks inside a word (markup not counted)."""
    widths = [_longest_word(name) for name in header]
    for row in rows:
        widths = [max(width, _longest_word(cell)) for width, cell in zip(widths, row, strict=True)]
    return sum(widths) + CELL_EXTRA * len(widths) + 1


def fitted(title: str, header: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> RenderableType:
    """``rows`` (rich markup) under ``header`` as a table if it fits ``width``, else as blocks."""
    if minimum_width(header, rows) <= width:
        table = Table(title=title, title_justify="left")
        for name in header:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*row)
        return table
    blocks: list[RenderableType] = [Text(title, style="bold")]
    for row in rows:
        blocks.append(Text.from_markup(" · ".join(cell for cell in row[:2] if cell), style="bold"))
        for name, cell in zip(header[2:], row[2:], strict=True):
            if cell and cell != EMPTY:
                blocks.append(Text.from_markup(f"  {name}: {cell}"))
    return Group(*blocks)


def _longest_word(cell: str) -> int:
    plain = Text.from_markup(cell).plain
    return max((len(word) for word in plain.split()), default=0)
