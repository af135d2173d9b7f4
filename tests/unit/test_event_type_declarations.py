"""The default registry's event classes are made at run time (``events.types.catalogue``); a
type checker reads the declarations under ``if TYPE_CHECKING:`` instead. These tests keep the
two equal, so mypy checks call sites against the fields the events really have."""

from __future__ import annotations

import ast
from pathlib import Path

from events import types

SOURCE = Path(types.__file__).read_text()


def _declarations() -> dict[str, tuple[str, list[tuple[str, bool]]]]:
    """class name -> (base name, [(field, has a default)]) from the TYPE_CHECKING block."""
    tree = ast.parse(SOURCE)
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    )
    out = {}
    for cls in block.body:
        assert isinstance(cls, ast.ClassDef)
        base = cls.bases[0]
        assert isinstance(base, ast.Name)
        fields = [
            (stmt.target.id, stmt.value is not None)
            for stmt in cls.body
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
        ]
        out[cls.name] = (base.id, fields)
    return out


def test_every_class_made_from_the_registry_is_declared_for_the_type_checker() -> None:
    written = {node.name for node in ast.parse(SOURCE).body if isinstance(node, ast.ClassDef)}
    made_at_run_time = set(types.EVENT_TYPES) - written
    assert made_at_run_time == set(_declarations())
    for name in made_at_run_time:
        assert getattr(types, name) is types.EVENT_TYPES[name]


def test_the_declared_fields_are_the_runtime_fields_in_order_with_the_same_defaults() -> None:
    for name, (base, fields) in _declarations().items():
        cls = types.EVENT_TYPES[name]
        assert cls.__mro__[1] is getattr(types, base), name
        inherited = [(f, not i.is_required()) for f, i in getattr(types, base).model_fields.items()]
        runtime = [(f, not info.is_required()) for f, info in cls.model_fields.items()]
        assert runtime == inherited + fields, name
