"""Page layout: wrapping, pagination and the programmatic overflow/overlap check."""

from __future__ import annotations

from ichbench.reports.pages import (
    PageSet,
    layout_problems,
    table_pages,
    text_pages,
    text_width_pt,
    wrap_text,
)


def test_wrap_text_lines_fit_and_long_paths_are_split_not_lost():
    path = "/very/long/" + "folder_name/" * 30 + "case.nii.gz"
    lines = wrap_text(f"Data: {path} and some words after it", 200, 10)
    assert all(text_width_pt(line, 10) <= 200 for line in lines)
    assert "".join(lines).replace(" ", "") == f"Data:{path}andsomewordsafterit"


def test_table_paginates_and_repeats_the_header():
    pages = PageSet("footer", [])
    rows = [[str(i), "ok", "0.1234", "x" * 80] for i in range(70)]
    n = table_pages(pages, "Table", ["case", "status", "dc", "a long text column"], rows)
    figs = pages.finish()
    assert n == len(figs) >= 2
    texts = [t.get_text() for t in figs[1].texts]
    assert "case" in texts and any(t.startswith("Table (2/") for t in texts)
    for fig in figs:
        assert layout_problems(fig) == []


def test_wide_table_shrinks_or_truncates_instead_of_overflowing():
    pages = PageSet("footer", [])
    header = [f"column number {i}" for i in range(14)]
    table_pages(pages, "Wide", header, [["0.123456789 [0.1, 0.2]"] * 14 for _ in range(5)])
    fig = pages.finish()[0]
    assert layout_problems(fig) == []


def test_text_pages_flow_onto_more_pages_without_overlap():
    pages = PageSet("footer", [])
    blocks = [(f"Heading {i}", "word " * 300) for i in range(6)]
    text_pages(pages, "Protocol", blocks)
    figs = pages.finish()
    assert len(figs) >= 2
    for fig in figs:
        assert layout_problems(fig) == []


def test_layout_problems_detects_overlap_and_overflow():
    pages = PageSet("footer", [])
    fig = pages.new("Page")
    fig.text(0.5, 0.5, "overlapping text")
    fig.text(0.5, 0.5, "overlapping text")
    fig.text(0.98, 0.5, "this runs off the right edge of the page")
    problems = layout_problems(fig)
    assert any(p.startswith("overlap") for p in problems)
    assert any(p.startswith("outside") for p in problems)
