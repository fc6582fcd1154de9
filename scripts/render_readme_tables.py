"""Regenerate the schema tables in README.md from mien.schema (the single place columns are documented).

    python scripts/render_readme_tables.py

Each table sits between ``<!-- schema:NAME -->`` and ``<!-- /schema:NAME -->``; tests/test_docs.py fails
when README.md and the schema disagree.
"""

from __future__ import annotations

import re
from pathlib import Path

from mien.schema import COLUMN_DOCS, SUMMARY_COLUMN_DOCS, VIDEO_COLUMN_DOCS, markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
TABLES = {"image": COLUMN_DOCS, "video": VIDEO_COLUMN_DOCS, "summary": SUMMARY_COLUMN_DOCS}


def block(name: str) -> str:
    return f"<!-- schema:{name} -->\n{markdown_table(TABLES[name])}\n<!-- /schema:{name} -->"


def render(text: str) -> str:
    for name in TABLES:
        pattern = re.compile(rf"<!-- schema:{name} -->.*?<!-- /schema:{name} -->", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- schema:{name} --> block")
        text = pattern.sub(lambda _: block(name), text)
    return text


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
    print(f"updated {README}")
