"""The resolver's part for authentication: outbound credentials of consumed APIs and inbound
schemes of the adapters.
"""

from __future__ import annotations

from typing import Any

from ..diagnostics import Pointer
from ..model import (
    Auth,
    Source,
)
from .shared import (
    ResolverState,
)

UNSUPPORTED_AUTH = ("oauth1", "oauth2", "hmac", "aws-sig-v4", "aws", "certificate", "mtls", "ntlm")


AUTH_ALIASES = {"apiKey": "apikey", "api_key": "apikey", "api-key": "apikey", "bearer": "bearer"}


class AuthResolver(ResolverState):
    def _auth(self, raw: Any, path: Pointer) -> Auth | None:
        if not isinstance(raw, dict):
            return None
        kind = AUTH_ALIASES.get(raw.get("type"), raw.get("type"))
        if kind != raw.get("type"):
            self.report.warning(
                f"authentication type {raw.get('type')!r} read as {kind!r}", (*path, "type")
            )
        if kind in ("none", "noauth", None):
            return None
        if kind == "bearer":
            return Auth(kind="bearer", token=self._required_template(raw, "token", path))
        if kind in ("basic", "digest"):
            return Auth(
                kind=kind,
                username=self._required_template(raw, "username", path),
                password=self._required_template(raw, "password", path),
            )
        if kind in ("apikey", "header", "query"):
            keys = self._apikeys(raw, "query" if kind == "query" else "header", path)
            return Auth(kind="apikey", keys=keys) if keys else None
        if kind in UNSUPPORTED_AUTH:
            self.report.unsupported(f"{kind} authentication", (*path, "type"))
            return None
        self.report.error(
            f"unknown authentication type {raw.get('type')!r}; use bearer, basic, digest or apikey",
            (*path, "type"),
        )
        return None

    def _apikeys(
        self, raw: dict[str, Any], default_placement: str, path: Pointer
    ) -> tuple[tuple[str, str, Source], ...]:
        """(placement, name, value) of every key an apikey block sends, in all the shapes seen
        in real specs; each unofficial shape is reported as a warning."""
        found: list[tuple[str, str, Any]] = []
        official = {"type", "key", "value", "placement"}
        if isinstance(raw.get("headers"), dict):
            found += [("header", str(k), v) for k, v in raw["headers"].items()]
        elif isinstance(raw.get("parameters"), list):
            for item in raw["parameters"]:
                if isinstance(item, dict) and item.get("name"):
                    found.append(
                        (item.get("in", default_placement), str(item["name"]), item.get("value"))
                    )
        elif isinstance(raw.get("header"), str) or isinstance(raw.get("query"), str):
            placement = "header" if isinstance(raw.get("header"), str) else "query"
            value = raw.get("value", raw.get("token", raw.get("key")))
            found.append((placement, raw[placement], value))
        else:
            name = raw.get("key", raw.get("name"))
            value = raw.get("value", raw.get("token"))
            placement = raw.get("placement", raw.get("in", default_placement))
            found.append((placement, name, value))
        if set(raw) - official or raw.get("type") != "apikey":
            self.report.warning(
                "this apikey shape is not official; read as key/value/placement", path
            )
        keys: list[tuple[str, str, Source]] = []
        for placement, name, value in found:
            if placement not in ("header", "query", "cookie", "body"):
                self.report.unsupported(f"apikey placement {placement!r}", path)
                continue
            if not isinstance(name, str) or not name:
                self.report.error(
                    "apikey authentication needs a 'key' (the header or query name)", path
                )
                continue
            if value is None:
                self.report.error(
                    f"apikey {name!r} needs a 'value' (e.g. '{{{{API_KEY}}}}' from binds)", path
                )
                continue
            keys.append(
                (
                    placement,
                    name,
                    self._template(value, path, inputs=None, credential="authentication"),
                )
            )
        return tuple(keys)

    def _required_template(self, raw: dict[str, Any], key: str, path: Pointer) -> Source | None:
        if key not in raw:
            self.report.error(f"{raw.get('type')} authentication needs '{key}'", path)
            return None
        return self._template(raw[key], (*path, key), inputs=None, credential="authentication")

    def _inbound(self, exposes: dict[str, Any], surface: str, path: Pointer) -> Auth | None:
        """``exposes[].authentication``: what the adapter's clients must send (bearer, basic or
        one API key in a header, query parameter or cookie), every secret from binds."""
        raw = exposes.get("authentication")
        if raw is None:
            return None
        where = (*path, "authentication")
        if not isinstance(raw, dict):
            self.report.error("authentication must be a mapping with a 'type'", where)
            return None
        if raw.get("type") in ("digest", "oauth2"):
            self.report.unsupported(
                f"inbound {raw['type']} authentication on the {surface} adapter "
                "(bearer, basic and apikey are supported)",
                (*where, "type"),
            )
            return None
        auth = self._auth(raw, where)
        if auth is None:
            return None
        if len(auth.keys) > 1:
            self.report.unsupported(
                f"more than one inbound API key on the {surface} adapter", where
            )
            return None
        if auth.body_key is not None:
            self.report.unsupported(
                f"an inbound API key in the body on the {surface} adapter", where
            )
            return None
        for source in auth.sources:
            if source.kind == "literal" and not str(source.value or ""):
                self.report.error("the inbound credential is empty: it would admit anyone", where)
                return None
            if source.kind == "literal":
                self.report.warning(
                    "the inbound credential is written in the spec; bind it ('{{VAR}}') so it "
                    "stays out of the spec and the generated code",
                    where,
                )
            elif source.inputs or source.step_paths:
                self.report.error("the inbound credential must come from binds", where)
                return None
        return auth
