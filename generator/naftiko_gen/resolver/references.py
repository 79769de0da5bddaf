"""The resolver's part for references: ``{{VAR}}`` templates, bind variables, placeholders and
``with`` values.
"""

from __future__ import annotations

import re
from typing import Any

from ..diagnostics import Pointer
from ..model import (
    Secret,
    Source,
)
from .shared import (
    ADAPTER_PREFIX,
    TEMPLATE,
    ResolverState,
    _close_names,
    _spelled_like,
    _Surface,
)

GENERIC_PREFIXES = ("rest", "tools", "mcp", "api", "inputs", "input", "params")


REST_SUB_PREFIXES = ("path", "query", "header", "headers", "body")


def _step_path(expr: str) -> str:
    """``{{step.a.b}}`` -> ``$.step.a.b`` (the JSONPath over step results)."""
    return "$." + expr


class ReferencesResolver(ResolverState):
    # ------------------------------------------------------------------ templates and sources
    def _template(
        self, value: Any, path: Pointer, *, inputs: _Surface | None, credential: str = ""
    ) -> Source:
        """A value that may hold ``{{...}}`` placeholders: secrets anywhere, inputs where a surface
        is given. In a *credential* (what it is, for messages), an undeclared ``{{VAR}}`` is read
        from the environment variable VAR."""
        if not isinstance(value, str):
            return Source(kind="literal", value=value)
        parts: list[tuple[str, str]] = []
        pos = 0
        for match in TEMPLATE.finditer(value):
            if match.start() > pos:
                parts.append(("text", value[pos : match.start()]))
            if credential and (
                var := self._environment_credential(match.group(1), path, credential)
            ):
                parts.append(("secret", var))
            else:
                parts.append(self._placeholder(match.group(1), path, inputs))
            pos = match.end()
        if pos < len(value):
            parts.append(("text", value[pos:]))
        if not any(kind != "text" for kind, _ in parts):
            return Source(kind="literal", value=value)
        if len(parts) == 1:
            kind, text = parts[0]
            return Source(kind=kind, value=text)  # type: ignore[arg-type]
        return Source(kind="template", parts=tuple(parts))

    def _environment_credential(self, expr: str, path: Pointer, what: str) -> str:
        """``{{VAR}}`` / ``{{env.VAR}}`` in a credential, not declared in binds: the author means
        "this secret comes from the environment variable VAR" (as in baseUri); a bind variable
        of its own, with a warning. '' when *expr* is declared, or not a variable name."""
        head, _, tail = expr.partition(".")
        var = tail if tail and head in self.bind_namespaces | {"env"} else expr
        if var in self.secrets or (tail and head in self.bind_namespaces and tail in self.secrets):
            return ""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            return ""
        if var.upper().startswith(ADAPTER_PREFIX + "_"):
            self.report.error(
                f"{{{{{expr}}}}} in {what} is not declared in binds, and environment variable "
                f"{var} cannot hold it: {ADAPTER_PREFIX}_* are the adapter's own settings; declare "
                f"it under binds[].keys with another environment variable ({var}: MY_{var})",
                path,
            )
        else:
            self.report.warning(
                f"{{{{{expr}}}}} in {what} is not declared in binds; read from environment "
                f"variable {var} (declare it under binds[].keys to document it)",
                path,
            )
        self.secrets[var] = Secret(var=var, env=var)
        return var

    def _placeholder(self, expr: str, path: Pointer, surface: _Surface | None) -> tuple[str, str]:
        if expr[:1] in ("#", "^", "/", "!", ">", "&", "{"):
            self.report.unsupported(
                f"Mustache section or partial {{{{{expr}}}}} (only {{{{name}}}} is supported)", path
            )
            return ("text", "")
        head, _, tail = expr.partition(".")
        if tail and head in self.bind_namespaces and tail in self.secrets:
            return ("secret", tail)
        if expr in self.secrets:
            return ("secret", expr)
        if surface is not None and head in surface.steps:
            return ("step", _step_path(expr))
        name = self._input_reference(expr, surface)
        if surface is not None and name is not None:
            if name in surface.inputs:
                return ("input", name)
            bound = surface.with_sources.get(name)
            if bound is not None and bound.kind in ("input", "secret", "step"):
                return (bound.kind, bound.value)
            if bound is not None and bound.kind == "literal":
                return ("text", "" if bound.value is None else str(bound.value))
            if surface.imply:
                surface.add_implied(self.report, name, "body", "string", True, "")
                return ("input", name)
            self.report.error(
                f"{{{{{expr}}}}} refers to input {name!r}, which is not an input here; "
                "declare it in inputParameters",
                path,
            )
            return ("text", "")
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", expr) or (tail and head in self.bind_namespaces):
            self.report.error(
                f"{{{{{expr}}}}} is not declared in binds; add it under binds[].keys", path
            )
        else:
            hint = ""
            if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_]*", expr):
                hint = f"; to read it from binds, declare namespace {head!r} with keys: {{{tail}: <ENV_VAR>}}"
            self.report.error(
                f"{{{{{expr}}}}} refers to nothing known here (not a bind variable or an input){hint}",
                path,
            )
        return ("text", "")

    def _input_reference(self, expr: str, surface: _Surface | None) -> str | None:
        """``rest.x``, ``tools.x``, ``<adapter ns>.x``, ``rest.query.x`` or plain ``x`` -> ``x``."""
        if surface is None:
            return None
        parts = expr.split(".")
        if len(parts) == 1:
            return parts[0]
        prefixes = (*GENERIC_PREFIXES, surface.namespace)
        if len(parts) == 2 and parts[0] in prefixes:
            return parts[1]
        if len(parts) == 3 and parts[0] in prefixes and parts[1] in REST_SUB_PREFIXES:
            return parts[2]
        return None

    def _with_value(self, value: Any, path: Pointer, surface: _Surface) -> Source:
        if not isinstance(value, str):
            return Source(kind="literal", value=value)
        if TEMPLATE.search(value):
            return self._template(value, path, inputs=surface)
        if surface.steps and value.startswith("$"):
            return self._step_value(value, path, surface)
        head, _, tail = value.partition(".")
        if tail and head in self.bind_namespaces and tail in self.secrets:
            return Source(kind="secret", value=tail)
        if head == "env" and tail:
            self.report.error(
                f"{value!r} names bind variable {tail!r}, which is not declared in binds", path
            )
            return Source(kind="literal", value="")
        if surface.bare_inputs and value in surface.inputs:
            return Source(kind="input", value=value)
        name = self._input_reference(value, surface) if "." in value else None
        if name is not None:
            if name in surface.inputs:
                return Source(kind="input", value=name)
            if spelled := _spelled_like(name, surface):
                self.report.warning(
                    f"{value!r} names input {name!r}, which is declared as {spelled!r} (the same "
                    f"name but for case and '-'/'_'); read as {spelled!r}",
                    path,
                )
                return Source(kind="input", value=spelled)
            where = value.split(".")
            if (
                surface.kind == "rest"
                and len(where) == 3
                and where[1] in ("query", "header", "headers", "body")
            ):
                # `rest.header.x-version`: the author says where the input comes from.
                location = "header" if where[1] == "headers" else where[1]
                surface.add_implied(self.report, name, location, "string", False, "")
                return Source(kind="input", value=name)
            close = _close_names(name, surface.inputs)
            self.report.error(
                f"{value!r} refers to input {name!r}, which this {'tool' if surface.kind == 'mcp' else 'operation'} "
                "does not have (not declared, not in the path, not a parameter of the called operation); "
                + (f"did you mean {close[0]!r}?" if close else "fix the name or declare the input"),
                path,
            )
            return Source(kind="literal", value="")
        return Source(kind="literal", value=value)
