"""The README documents exactly the columns mien writes (tables generated from mien.schema)."""

import importlib.util

from conftest import REPO


def test_readme_schema_tables_match_the_code():
    spec = importlib.util.spec_from_file_location("render", REPO / "scripts" / "render_readme.py")
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    text = (REPO / "README.md").read_text()
    assert render.render(text) == text, "README tables are stale: run python scripts/render_readme.py"


def test_readme_has_no_unfilled_placeholders():
    assert "<<" not in (REPO / "README.md").read_text()
