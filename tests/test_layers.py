"""The package's layering, checked by reading src/mien as syntax trees (nothing is imported):

- no import cycle between mien modules (module- and function-level imports count; ``if TYPE_CHECKING:`` ones don't);
- the library (everything but the applications) never imports the applications (cli, workflows, serve, batch, train);
- the low layer (detect, align, models, tasks, datasets, result, schema, registry, ...) imports only itself and the
  leaf (config, options): never the library above it (io, video, micro, viz, eval, analyzer, the ``mien`` package);
  every top-level module is given a layer, so a new one cannot slip past this rule;
- argparse only under mien/cli (the training tools still on their own parser are listed below);
- below the applications nothing writes files, draws to disk or screen, prints or shows progress, or reads
  environment variables (the thread default in models/runtime.py aside; files.py, tables.py and io/writers.py are
  the atomic files and the table formats that ``Result.to_csv`` and the applications write with).

Each checker takes a source folder, so the tests at the end feed it small synthetic trees to show it can fail.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mien"

# The applications layer (and the command line above it): the only places allowed side effects.
APPLICATIONS = ("cli", "workflows", "serve", "batch", "train", "__main__")

# The layers below the applications, by top-level module or package (``""``: the ``mien`` package itself, the
# public facade). A module of one of these layers imports only its own layer and those before it.
LAYERS: dict[str, tuple[str, ...]] = {
    "leaf": ("config", "options", "_version"),
    "low": ("detect", "align", "models", "tasks", "datasets", "result", "schema", "registry", "quality", "files",
            "tables"),
    "library": ("io", "video", "micro", "viz", "eval", "analyzer", ""),
}

# Data-preparation tools that still parse their own argv (python -m only; the trainers are in mien/cli/train.py).
ARGPARSE_ALLOWED = {
    "train/face_cache.py": "python -m mien.train.face_cache (a data-preparation tool)",
    "train/au_mesh.py": "python -m mien.train.au_mesh (fits the shipped mesh AU model)",
    "train/ferplus_landmarks.py": "python -m mien.train.ferplus_landmarks (a data-preparation tool)",
}

# Library modules allowed a side effect, each with the reason.
SIDE_EFFECTS_ALLOWED = {  # file -> (the kinds of side effect allowed there, why)
    "io/writers.py": ({"file"}, "resumes a table a killed run left (prepare_resume), for the applications"),
    "files.py": ({"file"}, "atomic writes and exclusive temporary files: the one safe way every writer commits a file"),
    "tables.py": ({"file"}, "the table formats (CSV, JSONL, JSON, Parquet) that Result.to_csv/to_json/to_parquet "
                            "and the applications write with"),
    "models/runtime.py": ({"environment"}, "reads MIEN_THREADS: the thread-count default"),
}
ALL_KINDS = {"file", "print", "screen", "environment"}

# Calls that write or remove files, draw to disk or screen, print or show progress, wherever they appear.
WRITING_ATTRIBUTES = {
    "write_text", "write_bytes", "imwrite", "savefig", "to_csv", "to_parquet", "save", "savez",
    "savez_compressed", "dump", "replace", "rename", "remove", "unlink", "rmdir", "mkdir", "makedirs",
    "symlink_to", "touch", "VideoWriter",
}
SCREEN = {"cv2.imshow", "cv2.namedWindow", "cv2.waitKey", "plt.show", "pyplot.show"}  # axis.imshow only draws
WRITING_MODULES = {"tempfile", "shutil"}  # any call into these writes (or removes) something
PRINTING = {"print", "tqdm", "trange"}
WRITE_MODES = set("wax+")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted (the most specific module that exists)
    line: int


def module_names(root: Path) -> dict[str, Path]:
    """Every module under ``root`` (a package folder) by dotted name: ``mien.video.reader`` -> its file."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(tree: ast.AST):
    """Every node, skipping the bodies of ``if TYPE_CHECKING:`` (their ``else`` still runs)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The in-package modules ``module`` imports, at module level or inside functions."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top = next(iter(modules)).split(".")[0]
    found = []
    for node in _statements(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import mien.x.y` of a name, not a module
                target = target.rpartition(".")[0]
            if target.split(".")[0] == top and target and target != module:
                found.append(Import(module, target, node.lineno))
    return found


def import_graph(root: Path) -> dict[str, list[Import]]:
    modules = module_names(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(root: Path) -> list[list[str]]:
    """Each import cycle once, as a path that returns to its start (strongly connected components, Tarjan)."""
    graph = {name: sorted({edge.target for edge in edges}) for name, edges in import_graph(root).items()}
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, []):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_path(component, graph) for component in components]


def _cycle_path(component: list[str], graph: dict[str, list[str]]) -> list[str]:
    """A shortest path from the component's first module back to itself (breadth first)."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in graph[node]:
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if nxt in members and nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return component


def _layer_folder(module: str) -> str:
    """``mien.video.reader`` -> ``video``; ``mien.__main__`` -> ``__main__``; ``mien.analyzer`` -> ``analyzer``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layering_violations(root: Path) -> list[str]:
    """Library modules that import an application module."""
    problems = []
    for module, edges in import_graph(root).items():
        if _layer_folder(module) in APPLICATIONS:
            continue
        for edge in edges:
            if _layer_folder(edge.target) in APPLICATIONS:
                problems.append(f"{module}:{edge.line} imports {edge.target} (an application)")
    return problems


def layer_of(module: str) -> str | None:
    """The layer of a module by its top-level name (``mien.video.reader`` -> ``library``); None: unlisted."""
    folder = _layer_folder(module)
    if folder in APPLICATIONS:
        return "applications"
    return next((layer for layer, members in LAYERS.items() if folder in members), None)


def layer_rank_violations(root: Path) -> list[str]:
    """Modules below the applications that import a higher layer (the low layer importing the library, ...)."""
    order = [*LAYERS, "applications"]
    problems = []
    for module, edges in import_graph(root).items():
        layer = layer_of(module)
        if layer is None or layer == "applications":
            continue
        for edge in edges:
            target = layer_of(edge.target)
            if target is not None and order.index(target) > order.index(layer):
                problems.append(f"{module}:{edge.line} imports {edge.target} (the {layer} layer imports the {target})")
    return problems


def unlisted_modules(root: Path) -> list[str]:
    """Top-level modules and packages given no layer."""
    return sorted({module for module in import_graph(root) if layer_of(module) is None})


def _file_key(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _in_applications(root: Path, path: Path) -> bool:
    first = path.relative_to(root).parts[0]
    return first.removesuffix(".py") in APPLICATIONS


def argparse_violations(root: Path, allowed: dict[str, str] = ARGPARSE_ALLOWED) -> list[str]:
    """Modules outside mien/cli that import argparse (anywhere in the file)."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        key = _file_key(root, path)
        if key.startswith("cli/") or key in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if "argparse" in [name.split(".")[0] for name in names]:
                problems.append(f"{key}:{node.lineno} imports argparse (argument parsing belongs in mien/cli)")
    return problems


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _open_mode(call: ast.Call) -> str:
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    if isinstance(call.func, ast.Attribute):  # path.open("w")
        mode = call.args[0] if call.args else mode
    return mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "r"


def side_effect(node: ast.AST) -> str | None:
    """What a node does that the library must not (writes, draws, prints, reads the environment), or None."""
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        last = name.rpartition(".")[2]
        if last == "open" and name in ("open", "io.open") or (isinstance(node.func, ast.Attribute) and last == "open"
                                                               and not name.startswith(("av.", "Image."))):
            mode = _open_mode(node)
            return f"opens a file for writing ({mode!r})" if WRITE_MODES & set(mode) else None
        if name.split(".")[0] in WRITING_MODULES:
            return f"calls {name}"
        if last in PRINTING and name == last:
            return f"calls {name} (printing and progress belong to the applications)"
        if name in SCREEN:
            return f"calls {name} (a window belongs to the applications)"
        if name in ("sys.stdout.write", "sys.stderr.write"):
            return f"calls {name}"
        if isinstance(node.func, ast.Attribute) and last in WRITING_ATTRIBUTES:
            if last in ("dump", "replace", "rename", "remove") and name.split(".")[0] not in ("json", "os", "pickle"):
                return None  # str.replace, list.remove, dataclasses.replace ...: not files
            return f"calls {name}"
        if name in ("os.getenv", "os.putenv"):
            return f"calls {name} (environment variables belong to the applications)"
    if isinstance(node, ast.Attribute) and _dotted(node) == "os.environ":
        return "reads os.environ (environment variables belong to the applications)"
    return None


def _kind(what: str) -> str:
    return ("environment" if "environ" in what else "print" if "printing" in what else
            "screen" if "window" in what else "file")


def side_effect_violations(root: Path, allowed: dict[str, tuple[set[str], str]] = SIDE_EFFECTS_ALLOWED) -> list[str]:
    """Side effects in modules below the applications, less the kinds ``allowed`` in a file."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        key = _file_key(root, path)
        if _in_applications(root, path):
            continue
        kinds = allowed.get(key, (set(), ""))[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            what = side_effect(node)
            if what and _kind(what) not in kinds:
                problems.append(f"{key}:{node.lineno} {what}")
    return problems


# ----------------------------------------------------------------------------------------- the real package


def test_no_import_cycles():
    cycles = find_cycles(SRC)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_library_never_imports_the_applications():
    problems = layering_violations(SRC)
    assert not problems, "\n".join(problems)


def test_the_low_layer_never_imports_the_library():
    problems = layer_rank_violations(SRC)
    assert not problems, "\n".join(problems)


def test_every_module_has_a_layer():
    unlisted = unlisted_modules(SRC)
    assert not unlisted, f"give these a layer in LAYERS (or APPLICATIONS): {unlisted}"
    for members in LAYERS.values():
        for name in members:
            assert name == "" or (SRC / name).is_dir() or (SRC / f"{name}.py").is_file(), f"{name} is gone: drop it"


def test_argparse_only_under_cli():
    problems = argparse_violations(SRC)
    assert not problems, "\n".join(problems)
    for key in ARGPARSE_ALLOWED:  # the list shrinks as tools move into cli/train.py
        assert (SRC / key).is_file(), f"{key} is gone: drop it from ARGPARSE_ALLOWED"


def test_the_library_has_no_side_effects():
    problems = side_effect_violations(SRC)
    assert not problems, "\n".join(problems)
    for key in SIDE_EFFECTS_ALLOWED:
        assert (SRC / key).is_file(), f"{key} is gone: drop it from SIDE_EFFECTS_ALLOWED"


# ------------------------------------------------------------------------------ the checkers can fail


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_cycle_through_a_function_level_import_is_reported_with_its_path(tmp_path):
    root = write_tree(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg import b\n",
        "b.py": "def f():\n    from pkg.sub import c\n",
        "sub/__init__.py": "",
        "sub/c.py": "from .. import a\n",
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n",
        "e.py": "import pkg.d\n",
    })
    assert find_cycles(root) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]  # d <-> e only for type checkers


def test_library_imports_of_applications_and_argparse_are_reported(tmp_path):
    root = write_tree(tmp_path, {
        "__init__.py": "",
        "video/__init__.py": "",
        "video/job.py": "def run():\n    from pkg.workflows import plots\n",
        "workflows/__init__.py": "",
        "workflows/plots.py": "from pkg.video import job\n",
        "micro/spot.py": "import argparse\n",
        "cli/spot.py": "import argparse\n",
    })
    assert layering_violations(root) == ["pkg.video.job:2 imports pkg.workflows.plots (an application)"]
    assert argparse_violations(root) == ["micro/spot.py:1 imports argparse (argument parsing belongs in mien/cli)"]
    assert argparse_violations(root, allowed={"micro/spot.py": "a test"}) == []


def test_a_low_module_importing_the_library_is_reported(tmp_path):
    root = write_tree(tmp_path, {
        "__init__.py": "",
        "config.py": "",
        "result.py": "from pkg import config\ndef to_csv():\n    from pkg.io.writers import write_table\n",
        "io/__init__.py": "",
        "io/writers.py": "from pkg import result\n",
        "datasets/au.py": "from pkg.video.reader import read_video\nfrom pkg.schema import AUS\n",
        "video/reader.py": "from pkg.io import writers\n",
        "schema.py": "",
        "extra.py": "",
    })
    assert layer_rank_violations(root) == [
        "pkg.datasets.au:1 imports pkg.video.reader (the low layer imports the library)",
        "pkg.result:3 imports pkg.io.writers (the low layer imports the library)"]
    assert unlisted_modules(root) == ["pkg.extra"]


@pytest.mark.parametrize("code, what", [
    ("open(path, 'w')", "opens a file for writing ('w')"),
    ("open(path, mode='ab')", "opens a file for writing ('ab')"),
    ("path.open('x')", "opens a file for writing ('x')"),
    ("path.write_text('x')", "calls path.write_text"),
    ("cv2.imwrite(path, image)", "calls cv2.imwrite"),
    ("figure.savefig(path)", "calls figure.savefig"),
    ("table.to_csv(path)", "calls table.to_csv"),
    ("np.savez(path, a=a)", "calls np.savez"),
    ("json.dump(data, handle)", "calls json.dump"),
    ("tempfile.mkstemp()", "calls tempfile.mkstemp"),
    ("os.replace(a, b)", "calls os.replace"),
    ("shutil.copy(a, b)", "calls shutil.copy"),
    ("print('done')", "calls print (printing and progress belong to the applications)"),
    ("cv2.imshow('mien', image)", "calls cv2.imshow (a window belongs to the applications)"),
    ("x = os.environ.get('HOME')", "reads os.environ (environment variables belong to the applications)"),
])
def test_library_side_effects_are_reported(tmp_path, code, what):
    root = write_tree(tmp_path, {"video/job.py": f"def run(path, image, a, b, data, handle):\n    {code}\n",
                                 "workflows/job.py": f"def run(path):\n    {code}\n"})
    assert side_effect_violations(root) == [f"video/job.py:2 {what}"]  # workflows/ may
    assert side_effect_violations(root, allowed={"video/job.py": (ALL_KINDS, "a test")}) == []
    other_kinds = ALL_KINDS - {_kind(what)}
    assert len(side_effect_violations(root, allowed={"video/job.py": (other_kinds, "a test")})) == 1


@pytest.mark.parametrize("code", ["open(path)", "open(path, 'rb')", "name.replace('a', 'b')", "items.remove(1)",
                                  "json.dumps(data)", "dataclasses.replace(options, a=1)",
                                  "axis.imshow(image)"])
def test_reading_and_look_alikes_are_not_side_effects(tmp_path, code):
    root = write_tree(tmp_path, {"video/job.py": f"def run(path, name, items, data, options):\n    {code}\n"})
    assert side_effect_violations(root) == []
