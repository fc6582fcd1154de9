"""mkdocs hook (mkdocs.yml: ``hooks``): links from a docs page to a repository file outside docs/
(``../BENCHMARKS.md``, a model card under ``../src/``) work on GitHub but not in the built site.

The hook checks that each such file exists (a missing one is a warning, so ``mkdocs build --strict`` fails)
and rewrites the link to ``repo_url/blob/main/PATH`` when mkdocs.yml names a ``repo_url``, otherwise to the
path written as code. Links inside docs/ are left to mkdocs's own checks.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger(__name__)
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s#]+)(#[^)\s]*)?\)")
_FENCE = re.compile(r"^(```|~~~)", re.M)


def _outside(page_uri: str, target: str) -> str | None:
    """The repository path of ``target`` when it leaves docs/, else None."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
        return None
    parts: list[str] = []
    for part in (*PurePosixPath(page_uri).parent.parts, *PurePosixPath(target).parts):
        if part == "..":
            if not parts:
                parts.append("..")
                continue
            if parts[-1] == "..":
                parts.append("..")
            else:
                parts.pop()
        elif part != ".":
            parts.append(part)
    if not parts or parts[0] != "..":
        return None
    return "/".join(parts[1:])


def _rewrite(text: str, page_uri: str, repo: Path, repo_url: str | None) -> str:
    def replace(match: re.Match) -> str:
        label, target, anchor = match.group(1), match.group(2), match.group(3) or ""
        path = _outside(page_uri, target)
        if path is None:
            return match.group(0)
        if not (repo / path).exists():
            log.warning(f"{page_uri}: link to '{target}', but {path} does not exist in the repository")
            return match.group(0)
        if repo_url:
            return f"[{label}]({repo_url.rstrip('/')}/blob/main/{path}{anchor})"
        return f"`{path}`" if label.strip("`") == PurePosixPath(path).name else f"{label} (`{path}`)"

    return _LINK.sub(replace, text)


def on_page_markdown(markdown: str, page, config, files) -> str:
    repo = Path(config["docs_dir"]).resolve().parent
    # Fenced code is left as it is: only prose links are rewritten.
    pieces = _FENCE.split(markdown)
    out, inside = [], False
    for piece in pieces:
        if piece in ("```", "~~~"):
            out.append(piece)
            inside = not inside
            continue
        out.append(piece if inside else _rewrite(piece, page.file.src_uri, repo, config.get("repo_url")))
    return "".join(out)
