"""The model registry: names, duplicates and the catalog as plain data."""

import pytest

from mien.registry import ModelSpec, create, get_spec, list_models, register


def test_unknown_names_list_what_exists():
    with pytest.raises(KeyError, match="retinaface"):
        get_spec("retinafase")
    with pytest.raises(KeyError, match="unknown expression backend"):
        create("retinaface", task="expression")


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register(ModelSpec("retinaface", "detector", "x:y", None, "MIT", "s", 1.0, "d"))
    with pytest.raises(ValueError, match="already registered"):
        register(ModelSpec("face-mesh", "landmarks", "x:y"))


def test_the_catalog_is_plain_data():
    """The catalog imports neither the registry nor any model; the registry fills itself from it."""
    import ast
    import importlib.util

    source = importlib.util.find_spec("mien.models.catalog").origin
    imported = {node.module for node in ast.walk(ast.parse(open(source).read())) if isinstance(node, ast.ImportFrom)}
    assert imported == {"__future__", "mien.config", "mien.models.spec", "mien.schema"}
    from mien.models.catalog import BUILTIN

    assert [spec.name for spec in list_models()][:len(BUILTIN)] == [spec.name for spec in BUILTIN]
    mesh = {spec.name: spec for spec in list_models("landmarks")}
    assert set(mesh) == {"face-mesh", "iris"}
    assert all("Apache-2.0" in spec.licence and "MediaPipe" in spec.source for spec in mesh.values())


# ------------------------------------------------------------------ plugins: the "mien.models" entry points
def _centre_spec(name="centre-face"):
    from builders import CentreDetector

    return ModelSpec(name, "detector", CentreDetector, description="one face in the middle of the image")


def test_plugins_are_read_once_on_the_first_unknown_name(monkeypatch):
    from builders import CentreDetector, FakeEntryPoint, install_fake_plugins

    from mien.registry import origin

    reads = install_fake_plugins(monkeypatch, FakeEntryPoint("centre-face", "mien_centre:spec", _centre_spec()))
    assert get_spec("retinaface").task == "detector" and origin("retinaface") == "built-in"
    assert reads == []  # a known name does not read the installed packages
    assert isinstance(create("centre-face", "detector", threads=2), CentreDetector)
    assert reads == ["mien.models"]
    assert origin("centre-face") == "plugin mien-fake 1.0 (centre-face = mien_centre:spec)"
    with pytest.raises(KeyError, match="unknown backend 'nothing'"):
        get_spec("nothing")
    assert [spec.name for spec in list_models("detector")] == ["retinaface", "whole-image", "centre-face"]
    assert reads == ["mien.models"]  # once per process


def test_a_plugin_function_may_give_several_specs_and_register_comes_after_plugins(monkeypatch):
    from builders import FakeEntryPoint, install_fake_plugins

    from mien.registry import origin, unregister

    specs = [_centre_spec("centre-a"), _centre_spec("centre-b")]
    install_fake_plugins(monkeypatch, FakeEntryPoint("centres", "mien_centre:specs", lambda: specs, dist=None))
    with pytest.raises(ValueError, match="'centre-b' is already registered"):
        register(_centre_spec("centre-b"))  # registering reads the plugins first: they keep their names
    assert origin("centre-a") == origin("centre-b") == "plugin (centres = mien_centre:specs)"
    assert unregister("centre-b") is specs[1]
    register(_centre_spec("centre-b"))
    assert origin("centre-b") == "registered"


def test_a_broken_plugin_is_reported_by_entry_point_and_the_others_work(monkeypatch):
    from builders import FakeEntryPoint, install_fake_plugins

    from mien.registry import PluginWarning, plugin_errors

    install_fake_plugins(
        monkeypatch,
        FakeEntryPoint("missing", "mien_gone.models:spec", ModuleNotFoundError("No module named 'mien_gone'")),
        FakeEntryPoint("number", "mien_odd:answer", 42),
        FakeEntryPoint("strings", "mien_odd:names", lambda: ["a", "b"]),
        FakeEntryPoint("impostor", "mien_odd:retinaface", ModelSpec("retinaface", "detector", "x:y")),
        FakeEntryPoint("centre-face", "mien_centre:spec", _centre_spec()),
    )
    with pytest.warns(PluginWarning) as caught:
        names = [spec.name for spec in list_models()]
    assert names[:2] == ["retinaface", "whole-image"] and "centre-face" in names
    assert get_spec("retinaface").entry == "mien.detect.retinaface:RetinaFaceDetector"  # never replaced
    errors = plugin_errors()
    assert [str(warning.message) for warning in caught] == errors
    assert errors == [
        "mien plugin mien-fake 1.0 (missing = mien_gone.models:spec) could not be loaded: "
        "ModuleNotFoundError: No module named 'mien_gone'",
        "mien plugin mien-fake 1.0 (number = mien_odd:answer) could not be loaded: "
        "TypeError: expected a ModelSpec or a function returning ModelSpecs, got int",
        "mien plugin mien-fake 1.0 (strings = mien_odd:names) could not be loaded: "
        "TypeError: test_a_broken_plugin_is_reported_by_entry_point_and_the_others_work.<locals>.<lambda>() "
        "must return a ModelSpec or a list of them, got list",
        "mien plugin mien-fake 1.0 (impostor = mien_odd:retinaface): the name 'retinaface' is taken "
        "(built-in detector); the plugin's detector is ignored",
    ]
    with pytest.raises(KeyError, match=r"unknown detector backend 'missing'.*\(missing = mien_gone.models:spec\) "
                                       r"could not be loaded: ModuleNotFoundError"):
        get_spec("missing", "detector")


def test_with_warnings_as_errors_a_broken_plugin_does_not_hide_the_next(monkeypatch):
    import warnings

    from builders import FakeEntryPoint, install_fake_plugins

    from mien.registry import PluginWarning

    install_fake_plugins(monkeypatch, FakeEntryPoint("broken", "mien_gone:spec", ImportError("gone")),
                         FakeEntryPoint("centre-face", "mien_centre:spec", _centre_spec()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(PluginWarning, match="broken = mien_gone:spec"):
            get_spec("centre-face")
    assert get_spec("centre-face").task == "detector"  # loaded although the warning before it was an error


def test_register_from_many_threads_gives_each_name_once():
    from concurrent.futures import ThreadPoolExecutor

    from mien.registry import unregister

    def attempt(_):
        try:
            register(ModelSpec("race-test", "detector", "x:y"))
            return True
        except ValueError:
            return False

    try:
        with ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(attempt, range(32))) == 1
    finally:
        unregister("race-test")


def test_import_mien_and_built_in_names_read_no_plugin():
    """In a fresh process: importing mien, building a spec and looking up a built-in name never read the
    installed packages' entry points."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("from importlib import metadata\n"
            "reads = []\n"
            "real = metadata.entry_points\n"
            "metadata.entry_points = lambda **kw: reads.append(kw.get('group')) or real(**kw)\n"
            "import mien\n"
            "from mien.registry import get_spec\n"
            "mien.ModelSpec('x', 'detector', 'a:b'); get_spec('retinaface')\n"
            "print('mien.models' in reads)\n")
    src = str(Path(__file__).resolve().parents[1] / "src")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": src})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
