"""A spec-driven mock upstream: ``naftiko-gen mock SPEC``.

Every operation a spec *consumes* is served at its baseUri path + resource path, with its method.
Requests missing a required parameter get a 400 shaped like the real APIs' errors; unknown paths a
404 and known paths with the wrong method a 405. Everything else is answered from an examples file
(``<spec stem>.examples.yaml``, schema ``schemas/mock-examples.schema.json``): per operation, the
first case whose ``match`` fits the request wins, and a ``sequence`` case answers in turn (e.g. a
market-data snapshot that is empty on the first call). With TLS on, a self-signed certificate for
localhost is made at start-up and its PEM written where clients can trust it.

Tests use the async API (:func:`start_mock`); people use the click command (:data:`mock_command`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ipaddress
import json
import logging
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import IO, Any
from urllib.parse import SplitResult, unquote, urlsplit
from xml.etree import ElementTree

import click
import jsonschema
from aiohttp import web
from jsonschema.exceptions import ValidationError
from multidict import CIMultiDict

from .diagnostics import Report
from .dialects import load_document
from .loader import load_spec
from .resolver import PLACEHOLDER

log = logging.getLogger(__name__)

EXAMPLES_SCHEMA = "mock-examples.schema.json"
# Header and query names whose values must never be recorded.
SECRET_NAME = re.compile(r"authorization|cookie|api[-_]?key|token|secret|password|session", re.I)
REDACTED = "<redacted>"
CERT_NAMES = ("localhost", "127.0.0.1", "::1")
CERT_DAYS = 30

Case = dict[str, Any]
_MISSING = object()


class MockConfigError(Exception):
    """The spec or the examples file cannot drive a mock; ``problems`` says why, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Param:
    """A consumed operation's input parameter, as far as the mock checks it."""

    name: str
    location: str  # path | query | header | body
    required: bool


@dataclass(frozen=True)
class Operation:
    """One consumed operation and the route it is served on."""

    namespace: str
    name: str
    method: str
    route: str  # baseUri path + resource path, placeholders as written
    pattern: re.Pattern[str]  # matches the raw (still percent-encoded) request path
    path_params: tuple[str, ...]
    params: tuple[Param, ...]
    xml: bool = False  # outputRawFormat: xml: example bodies are served as XML

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(frozen=True)
class MockSpec:
    """What the mock needs from a spec: its consumed operations and the first baseUri."""

    path: Path
    base_uri: SplitResult
    operations: tuple[Operation, ...]

    @property
    def default_tls(self) -> bool:
        return self.base_uri.scheme == "https"

    @property
    def default_port(self) -> int:
        return self.base_uri.port or (443 if self.default_tls else 80)


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The mappings in a list from the spec; anything else (absent, malformed) gives none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _route_pattern(route: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """A regex for *route* where each ``{x}`` / ``{{x}}`` placeholder matches one path segment."""
    parts: list[str] = []
    names: list[str] = []
    last = 0
    for match in PLACEHOLDER.finditer(route):
        parts += [re.escape(route[last : match.start()]), "([^/]+)"]
        names.append((match.group(1) or match.group(2) or "").strip())
        last = match.end()
    parts.append(re.escape(route[last:]))
    return re.compile("".join(parts)), tuple(names)


def _params(raw: Iterable[dict[str, Any]]) -> dict[str, Param]:
    params: dict[str, Param] = {}
    for item in raw:
        if isinstance(item.get("name"), str):
            location = str(item.get("in", "query"))
            required = bool(item.get("required", location == "path"))
            params[item["name"]] = Param(item["name"], location, required)
    return params


def read_mock_spec(spec_path: str | Path) -> MockSpec:
    """Read the consumed operations of the spec at *spec_path*; raise :class:`MockConfigError`."""
    loaded = load_document(spec_path).loaded  # either dialect, in its normalized form
    if loaded.report.errors:
        raise MockConfigError([d.format() for d in loaded.report.errors])
    capability = loaded.data.get("capability")
    consumes = _dicts(capability.get("consumes")) if isinstance(capability, dict) else []
    first_base: SplitResult | None = None
    operations: list[Operation] = []
    for index, entry in enumerate(consumes):
        if "import" in entry:
            entry = _imported(
                entry, Path(spec_path), loaded.report, ("capability", "consumes", index)
            )
            if entry is None:
                continue
        base_uri = entry.get("baseUri")
        if not isinstance(base_uri, str) or not base_uri:
            loaded.report.error("consumes entry has no baseUri", ("capability", "consumes", index))
            continue
        split = urlsplit(base_uri)
        first_base = first_base or split
        base_path = split.path.rstrip("/")
        namespace = str(entry.get("namespace", ""))
        for resource in _dicts(entry.get("resources")):
            path = str(resource.get("path", ""))
            route = base_path + (path if path.startswith("/") else "/" + path)
            pattern, path_params = _route_pattern(route)
            shared = _params(_dicts(resource.get("inputParameters")))
            for op in _dicts(resource.get("operations")):
                params = shared | _params(_dicts(op.get("inputParameters")))
                for name in path_params:  # placeholders need no declaration
                    params[name] = Param(name, "path", True)
                operations.append(
                    Operation(
                        namespace=namespace,
                        name=str(op.get("name", "")),
                        method=str(op.get("method", "GET")).upper(),
                        route=route,
                        pattern=pattern,
                        path_params=path_params,
                        params=tuple(params.values()),
                        xml=op.get("outputRawFormat") == "xml",
                    )
                )
    if loaded.report.errors:
        raise MockConfigError([d.format() for d in loaded.report.errors])
    if first_base is None or not operations:
        raise MockConfigError([f"{loaded.report.file}: the spec consumes no operations to mock"])
    return MockSpec(Path(spec_path), first_base, tuple(operations))


def _imported(
    entry: dict[str, Any], spec_path: Path, report: Report, path: tuple[str | int, ...]
) -> dict[str, Any] | None:
    """The consumes entry an ``import`` names (normalized, either dialect), under its alias."""
    location, name = entry.get("location"), entry.get("import")
    if not isinstance(location, str) or not isinstance(name, str):
        report.error("an imported consumes entry needs 'import' and its file", path)
        return None
    relative = location[len("file://") :] if location.startswith("file://") else location
    relative = relative[1:] if relative.startswith("/./") else relative
    imported = load_document(spec_path.parent / relative).loaded
    if imported.report.errors:
        report.items.extend(imported.report.errors)
        return None
    data = imported.data
    capability = data.get("capability")
    candidates = data.get("consumes") or (
        capability.get("consumes") if isinstance(capability, dict) else None
    )
    for candidate in _dicts(candidates):
        if candidate.get("namespace") == name:
            alias = entry.get("as")
            return {**candidate, "namespace": alias if isinstance(alias, str) else name}
    report.error(f"{location!r} has no consumes namespace {name!r}", (*path, "import"))
    return None


# --------------------------------------------------------------------------- examples


@cache
def examples_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of examples files."""
    text = resources.files("naftiko_gen.schemas").joinpath(EXAMPLES_SCHEMA).read_text("utf-8")
    return json.loads(text)


def default_examples_path(spec_path: str | Path) -> Path | None:
    """``<spec dir>/<spec stem>.examples.yaml`` when that file exists."""
    spec_path = Path(spec_path)
    candidate = spec_path.with_name(f"{spec_path.stem}.examples.yaml")
    return candidate if candidate.is_file() else None


# The loader's wording for these assumes a spec; say what an examples file needs instead.
_ROOT_PROBLEMS = {
    "file is empty": "file is empty; an examples file starts with 'operations:'",
    "the document root must be a mapping": "the document root must be a mapping with 'operations:'",
}


def _loader_problems(report: Report) -> list[str]:
    problems = []
    for d in report.errors:
        message = next((v for k, v in _ROOT_PROBLEMS.items() if d.message.startswith(k)), None)
        problems.append(d.format() if message is None else replace(d, message=message).format())
    return problems


def _schema_message(error: ValidationError) -> str:
    if "propertyNames" in error.schema_path:  # the only propertyNames rule: not with 'sequence'
        return f"{error.instance!r} cannot be combined with 'sequence'"
    return error.message if len(error.message) <= 300 else error.message[:297] + "..."


def load_examples(
    examples_path: str | Path, operations: Sequence[Operation] = ()
) -> dict[str, list[Case]]:
    """Read and validate an examples file: its cases by operation key.

    With *operations*, also check that every key names one of them and that path matches only
    use their path parameters. Problems raise :class:`MockConfigError` as
    ``FILE:LINE:COL: error: message [json-pointer]`` lines.
    """
    loaded = load_spec(examples_path)
    if loaded.report.errors:
        raise MockConfigError(_loader_problems(loaded.report))
    report: Report = loaded.report
    validator = jsonschema.Draft202012Validator(examples_schema())
    for error in validator.iter_errors(loaded.data):
        report.error(_schema_message(error), tuple(error.absolute_path))
    if not report.errors and operations:
        _check_keys(loaded.data["operations"], operations, report)
    if report.errors:
        raise MockConfigError([d.format() for d in report.sorted()])
    return loaded.data["operations"]


def _check_keys(
    examples: Mapping[str, list[Case]], operations: Sequence[Operation], report: Report
) -> None:
    known = {op.name for op in operations} | {op.qualified for op in operations}
    for key, cases in examples.items():
        if key not in known:
            names = ", ".join(sorted(op.name for op in operations))
            report.error(
                f"no consumed operation is named {key!r} (known: {names})", ("operations", key)
            )
            continue
        path_params = {
            n for op in operations if key in (op.name, op.qualified) for n in op.path_params
        }
        for index, case in enumerate(cases):
            for name in case.get("match", {}).get("path", {}):
                if name not in path_params:
                    report.error(
                        f"{key} has no path parameter {name!r}",
                        ("operations", key, index, "match", "path", name),
                    )


def _cases_for(op: Operation, examples: Mapping[str, list[Case]]) -> list[Case]:
    if op.qualified in examples:
        return examples[op.qualified]
    return examples.get(op.name, [])


# --------------------------------------------------------------------------- matching


def _text(value: Any) -> str:
    """How a match value or request value compares: strings as-is, the rest in JSON spelling."""
    return value if isinstance(value, str) else json.dumps(value)


def _body_field(body: Any, key: str) -> Any:
    """Top-level field *key* of a JSON body, else the value at dotted path *key* (``orders.0.conid``)."""
    if isinstance(body, dict) and key in body:
        return body[key]
    value = body
    for part in key.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _matches(
    case: Case, path_params: Mapping[str, str], query: Mapping[str, str], body: Any
) -> bool:
    match = case.get("match", {})
    for key, want in match.get("path", {}).items():
        if path_params.get(key) != _text(want):
            return False
    for key, want in match.get("query", {}).items():
        if query.get(key) != _text(want):
            return False
    for key, want in match.get("body", {}).items():
        got = _body_field(body, key)
        if got is _MISSING or _text(got) != _text(want):
            return False
    return True


def _json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> web.Response:
    all_headers = CIMultiDict(headers or {})
    all_headers.setdefault("Content-Type", "application/json")
    return web.Response(status=status, body=json.dumps(body).encode(), headers=all_headers)


def _xml_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    """An example body served as XML: a ``<response>`` root whose children are the fields (a list
    repeats its element), the shape the engine's XML reader turns back into the same document."""
    root = ElementTree.Element("response")

    def fill(element: ElementTree.Element, value: Any) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                for item in child if isinstance(child, list) else [child]:
                    fill(ElementTree.SubElement(element, str(key)), item)
        elif value is not None:
            element.text = value if isinstance(value, str) else json.dumps(value)

    fill(root, body)
    all_headers = CIMultiDict(headers or {})
    all_headers.setdefault("Content-Type", "application/xml")
    return web.Response(status=status, body=ElementTree.tostring(root), headers=all_headers)


def _error(status: int, message: str, **headers: str) -> web.Response:
    """An error shaped like IBKR's: ``{"error": "...", "statusCode": N}``."""
    return _json_response(status, {"error": message, "statusCode": status}, headers)


def _present(param: Param, request: web.Request, body: Any) -> bool:
    if param.location == "query":
        return param.name in request.query
    if param.location == "header":
        return param.name in request.headers
    if param.location == "body":
        return isinstance(body, dict) and param.name in body
    return True  # path parameters: the route would not have matched without them


def _redact(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Name -> value, repeated names joined with ', ', secret-looking values replaced."""
    result: dict[str, str] = {}
    for name, value in items:
        value = REDACTED if SECRET_NAME.search(name) else value
        result[name] = f"{result[name]}, {value}" if name in result else value
    return result


# --------------------------------------------------------------------------- the server


class MockServer:
    """A running mock upstream. Create it with :func:`start_mock`; stop it with :meth:`close`."""

    def __init__(self, spec: MockSpec, examples: Mapping[str, list[Case]] | None) -> None:
        self.spec = spec
        self._cases = {op.qualified: _cases_for(op, examples or {}) for op in spec.operations}
        if examples is None:
            log.warning("no examples file for %s; every operation answers {}", spec.path)
        elif missing := [name for name, cases in self._cases.items() if not cases]:
            log.warning("no examples for %s; they answer {}", ", ".join(missing))
        self._served: dict[tuple[str, int], int] = {}  # sequence position per (operation, case)
        self.requests: list[dict[str, Any]] = []
        self.base_url = ""
        self.port = 0
        self.ca_file: Path | None = None
        self._owns_ca_file = False
        self._record: IO[str] | None = None
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> MockServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop serving; close the record file and remove a CA file the mock made itself."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._record is not None:
            self._record.close()
            self._record = None
        if self._owns_ca_file and self.ca_file is not None:
            self.ca_file.unlink(missing_ok=True)
            self._owns_ca_file = False

    async def _start(
        self, host: str, port: int, tls: bool, ca_file: str | Path | None, record: str | Path | None
    ) -> None:
        context = None
        if tls:
            names = CERT_NAMES if host in CERT_NAMES or _is_wildcard(host) else (*CERT_NAMES, host)
            context, self.ca_file, self._owns_ca_file = _server_tls(names, ca_file)
        if record is not None:  # kept open while serving; close() closes it
            self._record = Path(record).open("a", encoding="utf-8")  # noqa: SIM115
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port, ssl_context=context).start()
        self.port = self._runner.addresses[0][1]
        url_host = "127.0.0.1" if _is_wildcard(host) else host
        url_host = f"[{url_host}]" if ":" in url_host else url_host
        scheme = "https" if tls else "http"
        self.base_url = f"{scheme}://{url_host}:{self.port}{self.spec.base_uri.path.rstrip('/')}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        text = (await request.read()).decode("utf-8", "replace")
        op, response = self._answer(request, text)
        entry = {
            "method": request.method,
            "path": request.path,
            "query": _redact(request.query.items()),
            "headers": _redact(request.headers.items()),
            "body": text,
            "operation": op.qualified if op else None,
            "status": response.status,
        }
        self.requests.append(entry)
        if self._record is not None:
            self._record.write(json.dumps(entry) + "\n")
            self._record.flush()
        log.info("%s %s -> %d", request.method, request.path_qs, response.status)
        return response

    def _answer(self, request: web.Request, text: str) -> tuple[Operation | None, web.Response]:
        raw_path = request.rel_url.raw_path
        routed = [(op, m) for op in self.spec.operations if (m := op.pattern.fullmatch(raw_path))]
        if not routed:
            return None, _json_response(404, {"error": "not found"})
        same_method = [(op, m) for op, m in routed if op.method == request.method]
        if not same_method:
            allowed = ", ".join(sorted({op.method for op, _ in routed}))
            return None, _error(405, f"method {request.method} not allowed", Allow=allowed)
        op, route_match = same_method[0]
        path_params = {
            name: unquote(value)
            for name, value in zip(op.path_params, route_match.groups(), strict=True)
        }
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = None
        for param in op.params:
            if param.required and not _present(param, request, body):
                message = f"Bad Request: missing required {param.location} parameter '{param.name}'"
                return op, _error(400, message)
        for index, case in enumerate(self._cases[op.qualified]):
            if _matches(case, path_params, request.query, body):
                return op, self._respond(op, index, case)
        if self._cases[op.qualified]:  # operations without any case were reported at start-up
            log.warning(
                "no example case of %s matches %s; answering {}", op.qualified, request.path_qs
            )
        return op, _json_response(200, {})

    def _respond(self, op: Operation, index: int, case: Case) -> web.Response:
        answer = case
        if "sequence" in case:
            served = self._served.get((op.qualified, index), 0)
            self._served[(op.qualified, index)] = served + 1
            answer = case["sequence"][min(served, len(case["sequence"]) - 1)]
        status = answer.get("status", 200)
        headers = answer.get("headers", {})
        if "body" in answer:
            if op.xml:
                return _xml_response(status, answer["body"], headers)
            return _json_response(status, answer["body"], headers)
        return web.Response(status=status, headers=headers)


async def start_mock(
    spec_path: str | Path,
    examples_path: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: bool = False,
    ca_file: str | Path | None = None,
    record: str | Path | None = None,
) -> MockServer:
    """Serve the operations *spec_path* consumes on *host*:*port* (0: any free port).

    Answers come from *examples_path*; without one every operation answers ``{}``. With *tls*,
    a fresh self-signed certificate is served and its PEM written to *ca_file* (default: a
    temporary file, removed on close). With *record*, one JSON line per request is appended to
    that file. Raises :class:`MockConfigError` for an unusable spec or examples file and
    ``OSError`` when the address cannot be bound.
    """
    spec = read_mock_spec(spec_path)
    examples = None if examples_path is None else load_examples(examples_path, spec.operations)
    server = MockServer(spec, examples)
    try:
        await server._start(host, port, tls, ca_file, record)
    except BaseException:
        await server.close()
        raise
    return server


def _is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


# --------------------------------------------------------------------------- TLS


def self_signed_certificate(names: Sequence[str] = CERT_NAMES) -> tuple[bytes, bytes]:
    """A fresh self-signed server certificate for *names*: ``(cert PEM, private key PEM)``.

    Uses the ``cryptography`` package when it is installed, else the ``openssl`` command.
    """
    if importlib.util.find_spec("cryptography") is not None:
        return _certificate_with_cryptography(names)
    return _certificate_with_openssl(names)


def _certificate_with_cryptography(names: Sequence[str]) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _certificate_with_openssl(names: Sequence[str]) -> tuple[bytes, bytes]:
    alt_names = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            alt_names.append(f"IP:{name}")
        except ValueError:
            alt_names.append(f"DNS:{name}")
    with tempfile.TemporaryDirectory(prefix="naftiko-mock-") as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        command = [
            "openssl", "req", "-x509", "-nodes", "-days", str(CERT_DAYS),
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={names[0]}",
            "-addext", "subjectAltName=" + ",".join(alt_names),
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "extendedKeyUsage=serverAuth",
        ]  # fmt: skip
        try:
            subprocess.run(command, check=True, capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise MockConfigError(
                ["TLS needs the 'cryptography' package or the openssl command; or use --no-tls"]
            ) from exc
        except subprocess.CalledProcessError as exc:
            raise MockConfigError(
                [f"openssl could not make a certificate: {exc.stderr.strip()}"]
            ) from exc
        return cert.read_bytes(), key.read_bytes()


def _server_tls(
    names: Sequence[str], ca_file: str | Path | None
) -> tuple[ssl.SSLContext, Path, bool]:
    """A server TLS context with a fresh certificate, whose PEM is written to *ca_file*.

    Returns the context, the PEM's path and whether that file is a temporary one of ours.
    """
    cert_pem, key_pem = self_signed_certificate(names)
    owned = ca_file is None
    if ca_file is None:
        fd, name = tempfile.mkstemp(prefix="naftiko-mock-ca-", suffix=".pem")
        os.close(fd)
        ca_file = name
    ca_path = Path(ca_file)
    ca_path.write_bytes(cert_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory(prefix="naftiko-mock-") as tmp:  # private (0700) directory
        key_path = Path(tmp) / "key.pem"
        key_path.write_bytes(key_pem)
        context.load_cert_chain(ca_path, key_path)
    return context, ca_path, owned


# --------------------------------------------------------------------------- command line


@click.command("mock", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--examples",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Canned answers.  [default: <spec dir>/<spec stem>.examples.yaml if it exists]",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free one).  [default: the first baseUri's port]",
)
@click.option(
    "--tls/--no-tls",
    default=None,
    help="Serve HTTPS with a fresh self-signed certificate.  [default: on for an https baseUri]",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the certificate PEM for clients to trust.  [default: a temporary file]",
)
@click.option(
    "--record",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append one JSON line per request (secrets redacted) to this file.",
)
def mock_command(
    spec: Path,
    examples: Path | None,
    host: str,
    port: int | None,
    tls: bool | None,
    ca_file: Path | None,
    record: Path | None,
) -> None:
    """Serve a simulated upstream for SPEC, answering from an examples file, until interrupted.

    \b
    Example:
      naftiko-gen mock specs/interactive-brokers.yaml --port 5055
      curl --cacert CA_FILE https://127.0.0.1:5055/v1/api/iserver/accounts
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    try:
        mock_spec = read_mock_spec(spec)
        port = mock_spec.default_port if port is None else port
        tls = mock_spec.default_tls if tls is None else tls
        examples = examples or default_examples_path(spec)
        asyncio.run(_serve(spec, examples, host, port, tls, ca_file, record))
    except MockConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"naftiko-gen mock: {exc}", err=True)
        sys.exit(1)


async def _serve(
    spec: Path,
    examples: Path | None,
    host: str,
    port: int,
    tls: bool,
    ca_file: Path | None,
    record: Path | None,
) -> None:
    async with await start_mock(spec, examples, host, port, tls, ca_file, record) as server:
        operations = len(server.spec.operations)
        source = f"answers from {examples}" if examples else "no examples"
        click.echo(f"Mocking {spec} ({operations} operations, {source}) at {server.base_url}")
        if server.ca_file is not None:
            click.echo(f"Certificate (trust it as a CA): {server.ca_file}")
        if record is not None:
            click.echo(f"Recording requests to {record}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
                loop.add_signal_handler(signum, stop.set)
        await stop.wait()
