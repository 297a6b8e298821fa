"""rados.pyi matches the module: every name and method it declares exists, and every public
name of the module is declared."""

import ast
import pathlib

import pytest

import rados

STUB = pathlib.Path(__file__).resolve().parent.parent / "rados.pyi"
pytestmark = pytest.mark.ours_only


def declared():
    tree = ast.parse(STUB.read_text())
    names, methods = set(), {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
            methods[node.name] = {
                n.name
                for n in node.body
                if isinstance(n, ast.FunctionDef) and not (n.name.startswith("__") and n.name != "__await__")
            }
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
    return names, methods


def test_stub_names_exist():
    names, methods = declared()
    for name in names:
        assert hasattr(rados, name), name
    for cls, ms in methods.items():
        for m in ms:
            assert hasattr(getattr(rados, cls), m), "{}.{}".format(cls, m)


def test_module_names_are_declared():
    names, _ = declared()
    public = {n for n in dir(rados) if not n.startswith("_")} - {"rados"}
    assert public - names == set()
