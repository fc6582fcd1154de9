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
