"""JSON Schemas (draft 2020-12, the dialect of OpenAPI 3.1) generated from the TypedDicts that type the API's bodies.

Each TypedDict becomes one named schema, referenced as `#/components/schemas/<Name>`; its docstring becomes the
description and its `NotRequired` keys are left out of `required`. A closed builder forbids keys the type does not
declare (`additionalProperties: false`), so a response carrying a field missing from the types fails validation.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

JsonSchema = dict[str, Any]
SCALARS: Mapping[object, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


class SchemaBuilder:
    """Collects the named schemas of the TypedDicts it meets in `components`.

    `named` maps a type (e.g. a NewType whose values come from a runtime list) to the schema it stands for."""

    def __init__(
        self,
        *,
        closed: bool,
        named: Mapping[object, JsonSchema] | None = None,
        ref_prefix: str = "#/components/schemas/",
    ) -> None:
        self.closed = closed
        self.named = dict(named or {})
        self.ref_prefix = ref_prefix
        self.components: dict[str, JsonSchema] = {}
        self._built: dict[str, type] = {}

    def schema(self, hint: object) -> JsonSchema:
        """The JSON schema of a type hint: str, int, float, bool, None, Any, Literal, unions, list, dict[str, X],
        or a TypedDict (as a reference)."""
        if hint in self.named:
            return dict(self.named[hint])
        if isinstance(hint, type) and is_typeddict(hint):
            return {"$ref": self.ref_prefix + self._component(hint)}
        origin, args = get_origin(hint), get_args(hint)
        if origin is Literal:
            return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
        if origin in (Union, types.UnionType):
            return self._union(args)
        if origin is list:
            return {"type": "array", "items": self.schema(args[0])}
        if origin is dict and args and args[0] is str:
            return {"type": "object", "additionalProperties": self.schema(args[1])}
        if hint is Any:
            return {}
        if hint in SCALARS:
            return {"type": SCALARS[hint]}
        raise TypeError(
            f"no JSON schema for {hint!r}: use str, int, float, bool, None, Literal, a union, list, "
            f"dict[str, ...] or a TypedDict"
        )

    def _union(self, members: tuple[object, ...]) -> JsonSchema:
        if all(member in SCALARS for member in members):
            return {"type": [SCALARS[member] for member in members]}
        return {"anyOf": [self.schema(member) for member in members]}

    def _component(self, typed_dict: type) -> str:
        name = typed_dict.__name__
        known = self._built.get(name)
        if known is not None:
            if known is not typed_dict:
                raise TypeError(
                    f"two TypedDicts are named {name} ({known.__module__} and {typed_dict.__module__}); "
                    f"rename one, since schema names must be unique"
                )
            return name
        self._built[name] = typed_dict
        hints = get_type_hints(typed_dict)
        required_keys: frozenset[str] = getattr(typed_dict, "__required_keys__", frozenset())
        schema: JsonSchema = {
            "type": "object",
            "properties": {key: self.schema(hint) for key, hint in hints.items()},
            "required": [key for key in hints if key in required_keys],
        }
        if self.closed:
            schema["additionalProperties"] = False
        if typed_dict.__doc__:
            schema["description"] = re.sub(r"(?<!\n)\n(?!\n)", " ", inspect.cleandoc(typed_dict.__doc__))
        self.components[name] = schema
        return name
