"""Page layout for the PDF report: fixed 16:9 pages, wrapped text, paginated tables.

Nothing here knows about metrics. Every page is a :class:`~matplotlib.figure.Figure` of
:data:`PAGE_IN` inches with a title band, a body and a footer; text is wrapped and tables
are split across pages *before* drawing, using measured text widths, so nothing can run
off the page or over another line. :func:`layout_problems` checks a drawn page (the tests
call it on every page of a report).
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text

PAGE_IN = (13.33, 7.5)  # 16:9, as a slide; prints on A4 landscape with margins
MARGIN_IN = 0.5
TITLE_BAND_IN = 0.85
FOOTER_IN = 0.4
BODY_PT = 10.0
TABLE_PT = 8.0
MIN_TABLE_PT = 6.0


@functools.lru_cache(maxsize=1)
def _renderer() -> RendererAgg:
    return RendererAgg(100, 100, 72.0)  # 72 dpi: one pixel per point


@functools.lru_cache(maxsize=4096)
def text_width_pt(text: str, size_pt: float, bold: bool = False) -> float:
    """Width of ``text`` in points when drawn in the default font at ``size_pt``."""
    if not text:
        return 0.0
    props = FontProperties(size=size_pt, weight="bold" if bold else "normal")
    width, _, _ = _renderer().get_text_width_height_descent(text, props, ismath=False)
    return float(width)


def fit_text(text: str, width_pt: float, size_pt: float, bold: bool = False) -> str:
    """``text`` shortened with an ellipsis until it fits ``width_pt``."""
    if text_width_pt(text, size_pt, bold) <= width_pt:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width_pt(text[:mid] + "…", size_pt, bold) <= width_pt:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…"


def wrap_text(text: str, width_pt: float, size_pt: float) -> list[str]:
    """Wrap ``text`` greedily into lines no wider than ``width_pt`` (measured).

    Newlines start new lines; a word wider than a line (a long path) is broken into pieces
    that fit, so nothing is lost.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width_pt(candidate, size_pt) <= width_pt:
                line = candidate
                continue
            if line:
                lines.append(line)
            while text_width_pt(word, size_pt) > width_pt and len(word) > 1:
                cut = len(fit_text(word, width_pt, size_pt)) - 1  # characters that fit
                cut = max(cut, 1)
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


@dataclass
class PageSet:
    """Pages of a report in order, with a running footer."""

    footer: str
    pages: list[Figure]

    def new(self, title: str, subtitle: str = "") -> Figure:
        """Start a page with its title band; returns the figure to draw the body on."""
        fig = Figure(figsize=PAGE_IN)
        w, h = PAGE_IN
        fig.text(MARGIN_IN / w, 1 - 0.45 / h, fit_text(title, (w - 2 * MARGIN_IN) * 72, 16,
                                                         True),
                 fontsize=16, weight="bold", va="center")
        if subtitle:
            fig.text(MARGIN_IN / w, 1 - 0.75 / h,
                     fit_text(subtitle, (w - 2 * MARGIN_IN) * 72, 9), fontsize=9,
                     color="0.35", va="center")
        fig.add_artist(_hline(fig, 1 - TITLE_BAND_IN / h))
        self.pages.append(fig)
        return fig

    def finish(self) -> list[Figure]:
        """Add ``footer — page i of n`` to every page and return the pages."""
        w, h = PAGE_IN
        n = len(self.pages)
        for i, fig in enumerate(self.pages, start=1):
            fig.text(MARGIN_IN / w, FOOTER_IN / 2 / h,
                     fit_text(self.footer, (w - 2 * MARGIN_IN) * 72 - 90, 8), fontsize=8,
                     color="0.4", va="center")
            fig.text(1 - MARGIN_IN / w, FOOTER_IN / 2 / h, f"page {i} of {n}", fontsize=8,
                     color="0.4", va="center", ha="right")
        return self.pages


def _hline(fig: Figure, y: float):  # type: ignore[no-untyped-def]
    from matplotlib.lines import Line2D

    w, _ = PAGE_IN
    return Line2D([MARGIN_IN / w, 1 - MARGIN_IN / w], [y, y], transform=fig.transFigure,
                  color="0.6", lw=0.8)


def body_box() -> tuple[float, float, float, float]:
    """Body area in inches: (left, bottom, width, height)."""
    w, h = PAGE_IN
    return (MARGIN_IN, FOOTER_IN + 0.1, w - 2 * MARGIN_IN, h - TITLE_BAND_IN - FOOTER_IN - 0.25)


def text_pages(pages: PageSet, title: str, blocks: Sequence[tuple[str, str]], *,
               size_pt: float = BODY_PT, columns: int = 2) -> None:
    """Headed text blocks, wrapped and flowed into columns and onto further pages."""
    left, bottom, width, height = body_box()
    gap = 0.35
    col_w = (width - gap * (columns - 1)) / columns
    line_h = size_pt * 1.45 / 72
    lines: list[tuple[str, bool]] = []
    for heading, body in blocks:
        if lines:
            lines.append(("", False))
        lines.append((fit_text(heading, col_w * 72, size_pt + 1, True), True))
        lines += [(line, False) for line in wrap_text(body, col_w * 72, size_pt)]
    per_col = int(height / line_h)
    per_page = per_col * columns
    k = 0
    while k < len(lines):  # a heading never ends a column: push it to the next one
        if lines[k][1] and (k % per_col) >= per_col - 2:
            lines[k:k] = [("", False)] * (per_col - k % per_col)
        k += 1
    w, h = PAGE_IN
    for start in range(0, len(lines), per_page):
        fig = pages.new(title if start == 0 else f"{title} (continued)")
        for j, (text, bold) in enumerate(lines[start:start + per_page]):
            col, row = divmod(j, per_col)
            x = left + col * (col_w + gap)
            y = bottom + height - (row + 0.5) * line_h
            if text:
                fig.text(x / w, y / h, text, fontsize=size_pt + (1 if bold else 0),
                         weight="bold" if bold else "normal", va="center")


def table_pages(pages: PageSet, title: str, header: Sequence[str],
                rows: Sequence[Sequence[str]], *, note: str = "",
                max_col_in: float = 3.2, align: Sequence[str] | None = None) -> int:
    """Draw a table over as many pages as needed; returns the number of pages.

    Column widths come from the measured widest cell (capped at ``max_col_in``; longer
    cells are cut with an ellipsis). If the columns do not fit the page width the font
    shrinks down to :data:`MIN_TABLE_PT`, then the widest columns are capped further.
    """
    left, bottom, width, height = body_box()
    note_lines = wrap_text(note, width * 72, 8) if note else []
    size = 11.0 if len(rows) <= 12 else TABLE_PT
    pad_pt = 1.0 * size
    while True:
        widths = [min(max([text_width_pt(header[c], size, True)] +
                          [text_width_pt(r[c], size) for r in rows]) + pad_pt,
                      max_col_in * 72) for c in range(len(header))]
        if sum(widths) <= width * 72 or size <= MIN_TABLE_PT:
            break
        size -= 0.5
    while sum(widths) > width * 72:  # cap the widest column until everything fits
        k = int(np.argmax(widths))
        widths[k] = max(widths[k] - (sum(widths) - width * 72), 30.0)
        if all(wd <= 30.0 for wd in widths):
            break
    row_h = size * 1.7 / 72
    note_h = len(note_lines) * 8 * 1.45 / 72 + (0.1 if note_lines else 0)
    per_block = max(int((height - note_h) / row_h) - 1, 1)
    table_w = sum(widths) / 72
    gap = 0.4
    # long narrow tables snake into side-by-side blocks, each with its own header
    blocks = 1
    if len(rows) > per_block:
        blocks = max(1, min(int((width + gap) // (table_w + gap)), 4,
                            -(-len(rows) // per_block)))
    per_page = per_block * blocks
    align = list(align or [_column_align([r[c] for r in rows]) for c in range(len(header))])
    w, h = PAGE_IN
    n_pages = 0
    chunks = [rows[i:i + per_page] for i in range(0, len(rows), per_page)] or [[]]
    for p, chunk in enumerate(chunks):
        suffix = f" ({p + 1}/{len(chunks)})" if len(chunks) > 1 else ""
        fig = pages.new(title + suffix)
        n_pages += 1
        top = bottom + height
        parts = [chunk[b * per_block:(b + 1) * per_block] for b in range(blocks)]
        for b, part in enumerate(parts):
            if b and not part:
                continue
            x0 = left + b * (table_w + gap)
            for r, cells in enumerate([list(header), *part]):
                y = top - (r + 0.5) * row_h
                if r % 2 == 0 and r > 0:
                    fig.patches.append(_band(fig, y, row_h, x0, table_w))
                x = x0
                for c, cell in enumerate(cells):
                    text = fit_text(str(cell), widths[c] - pad_pt, size, bold=(r == 0))
                    right = align[c] == "right"
                    xpos = (x + widths[c] / 72 - pad_pt / 2 / 72) if right else \
                        x + pad_pt / 2 / 72
                    fig.text(xpos / w, y / h, text, fontsize=size, va="center",
                             ha="right" if right else "left",
                             weight="bold" if r == 0 else "normal")
                    x += widths[c] / 72
                if r == 0:
                    fig.add_artist(_hline_at(fig, y - row_h / 2, x0, table_w))
        n_lines = max(len(part) for part in parts) + 1
        for i, line in enumerate(note_lines):
            y = top - n_lines * row_h - 0.1 - (i + 0.5) * 8 * 1.45 / 72
            fig.text(left / w, y / h, line, fontsize=8, color="0.3", va="center")
    return n_pages


_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?([eE][-+]?\d+)?|inf|–)$")


def _column_align(cells: Sequence[str]) -> str:
    """``right`` for a column of numbers (``inf`` and ``–`` count), else ``left``."""
    values = [str(c).strip() for c in cells if str(c).strip()]
    return "right" if values and all(_NUMBER.match(v) for v in values) else "left"


def _band(fig: Figure, y_in: float, h_in: float, left_in: float, width_in: float):  # type: ignore[no-untyped-def]
    from matplotlib.patches import Rectangle

    w, h = PAGE_IN
    return Rectangle((left_in / w, (y_in - h_in / 2) / h), width_in / w, h_in / h,
                     transform=fig.transFigure, color="0.94", zorder=-1)


def _hline_at(fig: Figure, y_in: float, left_in: float, width_in: float):  # type: ignore[no-untyped-def]
    from matplotlib.lines import Line2D

    w, h = PAGE_IN
    return Line2D([left_in / w, (left_in + width_in) / w], [y_in / h, y_in / h],
                  transform=fig.transFigure, color="0.3", lw=0.8)


def figure_page(pages: PageSet, title: str, figure: Figure, *, caption: str = "",
                dpi: int = 130) -> None:
    """Put a figure on a page as an image scaled to the body (aspect kept)."""
    import matplotlib.image as mpimg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    image = mpimg.imread(buffer, format="png")
    left, bottom, width, height = body_box()
    caption_lines = wrap_text(caption, width * 72, 9) if caption else []
    cap_h = len(caption_lines) * 9 * 1.45 / 72 + (0.1 if caption_lines else 0)
    avail_h = height - cap_h
    ih, iw = image.shape[:2]
    scale = min(width / iw, avail_h / ih)
    img_w, img_h = iw * scale, ih * scale
    fig = pages.new(title)
    w, h = PAGE_IN
    x0 = left + (width - img_w) / 2
    y0 = bottom + cap_h + (avail_h - img_h) / 2
    ax = fig.add_axes((x0 / w, y0 / h, img_w / w, img_h / h))
    ax.imshow(image, interpolation="antialiased")
    ax.axis("off")
    for i, line in enumerate(caption_lines):
        y = bottom + cap_h - 0.05 - (i + 0.5) * 9 * 1.45 / 72
        fig.text(left / w, y / h, line, fontsize=9, color="0.25", va="center")


def layout_problems(fig: Figure) -> list[str]:
    """Texts outside the page or overlapping another text (empty list: page is clean)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = fig.bbox
    boxes, names = [], []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        names.append(text.get_text())
        boxes.append((box.x0, box.y0, box.x1, box.y1))
    problems = []
    for name, (x0, y0, x1, y1) in zip(names, boxes, strict=True):
        if x0 < page.x0 - 1 or y0 < page.y0 - 1 or x1 > page.x1 + 1 or y1 > page.y1 + 1:
            problems.append(f"outside the page: {name!r}")
    if boxes:
        b = np.array(boxes)
        shrink = 0.5  # pixels: touching glyph boxes are not an overlap
        ox = (np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]))
        oy = (np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]))
        overlap = (ox > shrink) & (oy > shrink)
        np.fill_diagonal(overlap, False)
        for i, j in zip(*np.nonzero(np.triu(overlap)), strict=True):
            problems.append(f"overlap: {names[i]!r} and {names[j]!r}")
    return problems
