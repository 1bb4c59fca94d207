"""Every relative link and image in the repository's markdown resolves, anchors included (GitHub's heading slugs), so
a page split or a renamed heading cannot leave a dead link behind."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".venv", "runs", ".git", "node_modules", "__pycache__"}
# [text](target) or ![alt](target "title"); the text may hold one level of brackets.
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def markdown_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.md")
                  if not SKIPPED_DIRS & set(p.relative_to(ROOT).parts) and not p.parent.name.endswith(".egg-info"))


def prose_lines(text: str, inline_code: bool = False) -> list[str]:
    """The lines of `text` with fenced code blanked and (unless `inline_code`) inline code removed: links inside code
    are not links, but a heading's code is part of its anchor."""
    lines, fenced = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            lines.append("")
            continue
        lines.append("" if fenced else line if inline_code else re.sub(r"`[^`]*`", "", line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"<[^>]+>", "", heading.strip()).lower().replace("`", "")
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LMN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors a page offers: its headings' slugs (a repeated one gets -1, -2, ...) and explicit name/id tags."""
    seen: dict[str, int] = {}
    text = path.read_text()
    for line in prose_lines(text, inline_code=True):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            seen[base] = seen.get(base, -1) + 1
    found = {base if n == 0 else f"{base}-{n}" for base, count in seen.items() for n in range(count + 1)}
    return found | set(re.findall(r'<a\s+(?:name|id)="([^"]+)"', text))


def broken_links(page: Path) -> list[str]:
    problems = []
    for number, line in enumerate(prose_lines(page.read_text()), 1):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
                continue
            path, _, fragment = target.partition("#")
            destination = (page.parent / path).resolve() if path else page
            if not destination.exists():
                problems.append(f"{page.relative_to(ROOT)}:{number}: {target} does not exist")
            elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
                problems.append(f"{page.relative_to(ROOT)}:{number}: no heading #{fragment} in {destination.name}")
    return problems


def test_slug_follows_githubs_rule():
    assert slug("Pixel update (issue #14 §2, `bench/pixels.py`)") == "pixel-update-issue-14-2-benchpixelspy"
    assert slug("Where an update's time goes") == "where-an-updates-time-goes"
    assert slug("Multi-process / multi-GPU") == "multi-process--multi-gpu"


def test_the_checker_finds_dead_links(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    page = tmp_path / "page.md"
    page.write_text("# A title\n## With `code.py`\n[ok](#a-title) [ok](#with-codepy) [bad anchor](#nope)"
                    " [gone](missing.md) ![gone](nope.png)\n"
                    "`[in code](missing2.md)`\n```\n[in a fence](missing3.md)\n```\n")
    assert [p.split(": ", 1)[1] for p in broken_links(page)] == [
        "no heading #nope in page.md", "missing.md does not exist", "nope.png does not exist"]


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []
