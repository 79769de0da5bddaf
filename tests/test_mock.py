"""The spec-driven mock upstream (``naftiko-gen mock``), driven by the IBKR seed spec."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
import pytest_asyncio
import yaml
from click.testing import CliRunner
from naftiko_gen import mock
from naftiko_gen.mock import (
    MockConfigError,
    MockServer,
    examples_schema,
    load_examples,
    mock_command,
    read_mock_spec,
    start_mock,
)

ROOT = Path(__file__).parents[1]
SPEC = ROOT / "specs" / "interactive-brokers.yaml"
EXAMPLES = ROOT / "specs" / "interactive-brokers.examples.yaml"
ACCOUNT = "DU1234567"


@pytest_asyncio.fixture
async def ibkr() -> AsyncIterator[MockServer]:
    async with await start_mock(SPEC, EXAMPLES) as server:
        yield server


async def call(method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """Status and decoded JSON body of one request."""
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


# --------------------------------------------------------------------------- examples file


def test_examples_file_validates_against_the_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(examples_schema())
    data = yaml.safe_load(EXAMPLES.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(examples_schema()).validate(data)


def test_examples_cover_every_operation_of_the_seed_spec() -> None:
    spec = read_mock_spec(SPEC)
    examples = load_examples(EXAMPLES, spec.operations)
    assert {op.name for op in spec.operations} == set(examples)
    assert all(examples.values())


def test_a_case_cannot_mix_sequence_and_body(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.examples.yaml"
    mixed.write_text(
        "operations:\n  getaccounts:\n    - sequence: [{body: []}]\n      body: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(MockConfigError) as caught:
        load_examples(mixed)
    [problem] = caught.value.problems
    assert problem.endswith(
        "mixed.examples.yaml:3:7: error: 'body' cannot be combined with 'sequence'"
        " [/operations/getaccounts/0]"
    )


def test_invalid_examples_are_located(tmp_path: Path) -> None:
    bad = tmp_path / "bad.examples.yaml"
    bad.write_text(
        "operations:\n"
        "  getaccounts:\n"
        "    - status: ok\n"
        "  getpositions:\n"
        "    - match: {path: {acct: x}}\n"
        "  nosuchoperation: []\n",
        encoding="utf-8",
    )
    with pytest.raises(MockConfigError) as caught:
        load_examples(bad, read_mock_spec(SPEC).operations)
    assert any(
        p.endswith("3:7: error: 'ok' is not of type 'integer' [/operations/getaccounts/0/status]")
        for p in caught.value.problems
    )

    bad.write_text(
        "operations:\n  getpositions:\n    - match: {path: {acct: x}}\n  nosuchoperation: []\n",
        encoding="utf-8",
    )
    with pytest.raises(MockConfigError) as caught:
        load_examples(bad, read_mock_spec(SPEC).operations)
    problems = "\n".join(caught.value.problems)
    assert "no consumed operation is named 'nosuchoperation'" in problems
    assert "getpositions has no path parameter 'acct'" in problems


def test_cli_exits_2_on_invalid_examples(tmp_path: Path) -> None:
    bad = tmp_path / "bad.examples.yaml"
    bad.write_text("operations:\n  getaccounts:\n    - status: 1000\n", encoding="utf-8")
    result = CliRunner().invoke(mock_command, [str(SPEC), "--examples", str(bad), "--port", "0"])
    assert result.exit_code == 2
    assert "bad.examples.yaml:3:7: error:" in result.output


def test_spec_defaults_come_from_the_first_base_uri() -> None:
    spec = read_mock_spec(SPEC)
    assert (spec.default_port, spec.default_tls) == (5000, True)
    assert len(spec.operations) == 9


# --------------------------------------------------------------------------- routing and matching


@pytest.mark.asyncio
async def test_match_on_path(ibkr: MockServer) -> None:
    status, page0 = await call("GET", f"{ibkr.base_url}/portfolio/{ACCOUNT}/positions/0")
    assert status == 200
    assert [p["ticker"] for p in page0] == ["AAPL", "IBM", "MSFT", "SPY"]
    assert await call("GET", f"{ibkr.base_url}/portfolio/{ACCOUNT}/positions/1") == (200, [])
    status, error = await call("GET", f"{ibkr.base_url}/portfolio/DU9999999/summary")
    assert status == 500
    assert set(error) == {"error"}


@pytest.mark.asyncio
async def test_match_on_query(ibkr: MockServer) -> None:
    history = f"{ibkr.base_url}/iserver/marketdata/history"
    _, daily = await call("GET", history, params={"conid": "265598", "period": "1w", "bar": "1d"})
    _, intraday = await call(
        "GET", history, params={"conid": "265598", "period": "1h", "bar": "5min"}
    )
    assert (daily["barLength"], len(daily["data"])) == (86400, 5)
    assert (intraday["barLength"], len(intraday["data"])) == (300, 12)
    _, filled = await call("GET", f"{ibkr.base_url}/iserver/account/orders?filters=filled")
    assert [o["status"] for o in filled["orders"]] == ["Filled"]


@pytest.mark.asyncio
async def test_match_on_body(ibkr: MockServer) -> None:
    search = f"{ibkr.base_url}/iserver/secdef/search"
    _, ibm = await call("POST", search, json={"symbol": "IBM", "secType": "STK"})
    assert ibm[0]["conid"] == "8314"
    _, by_name = await call("POST", search, json={"symbol": "apple", "name": True})
    assert by_name == [
        {
            "conid": "265598",
            "companyHeader": "APPLE INC - NASDAQ",
            "companyName": "APPLE INC",
            "symbol": "AAPL",
        }
    ]
    assert await call("POST", search, json={"symbol": "ZZZZ"}) == (200, [])

    orders = f"{ibkr.base_url}/iserver/account/{ACCOUNT}/orders"
    ticket = {"acctId": ACCOUNT, "orderType": "LMT", "side": "BUY", "tif": "DAY", "quantity": 10}
    _, question = await call("POST", orders, json={"orders": [{**ticket, "conid": 265598}]})
    assert set(question[0]) == {"id", "message", "isSuppressed", "messageIds"}
    assert question[0]["messageIds"] == ["o354"]
    _, ack = await call("POST", orders, json={"orders": [{**ticket, "conid": 8314}]})
    assert ack == [{"order_id": "1702000005", "order_status": "Submitted", "encrypt_message": "1"}]


@pytest.mark.asyncio
async def test_snapshot_warms_up_then_answers_data(ibkr: MockServer) -> None:
    url = f"{ibkr.base_url}/iserver/marketdata/snapshot?conids=265598,8314&fields=31,84,86"
    _, first = await call("GET", url)
    assert first == [{"conid": 265598, "conidEx": "265598"}, {"conid": 8314, "conidEx": "8314"}]
    _, second = await call("GET", url)
    assert [row["31"] for row in second] == ["227.52", "241.10"]
    _, third = await call("GET", url)
    assert third == second  # an exhausted sequence repeats its last answer


@pytest.mark.asyncio
async def test_missing_required_query_parameter_is_a_400(ibkr: MockServer) -> None:
    status, body = await call("GET", f"{ibkr.base_url}/iserver/marketdata/snapshot")
    assert status == 400
    assert body["statusCode"] == 400
    assert "conids" in body["error"]
    status, body = await call(
        "GET", f"{ibkr.base_url}/iserver/marketdata/history?conid=265598&period=1d"
    )
    assert (status, body["statusCode"]) == (400, 400)
    assert "'bar'" in body["error"]


@pytest.mark.asyncio
async def test_unknown_path_is_a_404_and_wrong_method_a_405(ibkr: MockServer) -> None:
    assert await call("GET", f"{ibkr.base_url}/iserver/nothing") == (404, {"error": "not found"})
    assert (await call("GET", f"{ibkr.base_url}/portfolio/{ACCOUNT}/positions"))[0] == 404
    url = f"{ibkr.base_url}/iserver/accounts"
    async with aiohttp.ClientSession() as session, session.delete(url) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET"


@pytest.mark.asyncio
async def test_without_examples_every_operation_answers_an_empty_object(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="naftiko_gen.mock"):
        async with await start_mock(SPEC) as server:
            assert await call("GET", f"{server.base_url}/iserver/accounts") == (200, {})
            assert await call("POST", f"{server.base_url}/iserver/auth/status") == (200, {})
    assert "no examples file" in caplog.text


# --------------------------------------------------------------------------- TLS and recording


def _backends() -> list[Any]:
    has_cryptography = importlib.util.find_spec("cryptography") is not None
    return [
        pytest.param(
            mock._certificate_with_cryptography,
            id="cryptography",
            marks=pytest.mark.skipif(not has_cryptography, reason="cryptography not installed"),
        ),
        pytest.param(
            mock._certificate_with_openssl,
            id="openssl",
            marks=pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl command"),
        ),
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", _backends())
async def test_tls_is_trusted_only_with_the_written_ca_file(
    backend: Callable[[Sequence[str]], tuple[bytes, bytes]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(mock, "self_signed_certificate", backend)
    ca_file = tmp_path / "ca.pem"
    async with await start_mock(SPEC, EXAMPLES, tls=True, ca_file=ca_file) as server:
        assert server.base_url == f"https://127.0.0.1:{server.port}/v1/api"
        assert server.ca_file == ca_file
        trusting = ssl.create_default_context(cafile=str(ca_file))
        status, body = await call("GET", f"{server.base_url}/iserver/accounts", ssl=trusting)
        assert (status, body["selectedAccount"]) == (200, ACCOUNT)
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await call(
                "GET", f"{server.base_url}/iserver/accounts", ssl=ssl.create_default_context()
            )
    assert ca_file.exists()  # a CA file the caller chose is left in place


@pytest.mark.asyncio
async def test_a_temporary_ca_file_is_removed_on_close() -> None:
    async with await start_mock(SPEC, tls=True) as server:
        assert server.ca_file is not None
        assert server.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert not server.ca_file.exists()


@pytest.mark.asyncio
async def test_recording_writes_json_lines_without_secrets(tmp_path: Path) -> None:
    record = tmp_path / "requests.jsonl"
    secret = "s3cret-bearer-token"
    async with await start_mock(SPEC, EXAMPLES, record=record) as server:
        await call(
            "POST",
            f"{server.base_url}/iserver/secdef/search?access_token={secret}",
            json={"symbol": "MSFT"},
            headers={"Authorization": f"Bearer {secret}", "Cookie": f"x={secret}"},
        )
        await call("GET", f"{server.base_url}/iserver/marketdata/snapshot?conids=8314")
        in_memory = server.requests
    text = record.read_text(encoding="utf-8")
    assert secret not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines == in_memory
    first, second = lines
    assert first["method"] == "POST"
    assert first["path"] == "/v1/api/iserver/secdef/search"
    assert first["query"] == {"access_token": "<redacted>"}
    assert first["headers"]["Authorization"] == "<redacted>"
    assert first["headers"]["Cookie"] == "<redacted>"
    assert json.loads(first["body"]) == {"symbol": "MSFT"}
    assert first["operation"] == "interactive-brokers.searchcontracts"
    assert (second["query"], second["status"], second["body"]) == ({"conids": "8314"}, 200, "")


# --------------------------------------------------------------------------- command line


def test_cli_serves_until_terminated(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    command = [sys.executable, "-c", "from naftiko_gen.cli import main; main()", "mock", str(SPEC)]
    command += ["--port", "0", "--ca-file", str(ca_file)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            banner = (
                proc.stdout.readline()
            )  # "Mocking SPEC (9 operations, answers from ...) at URL"
            assert "answers from" in banner and "interactive-brokers.examples.yaml" in banner
            base_url = banner.rsplit(" at ", 1)[-1].strip()
            assert base_url.startswith("https://127.0.0.1:") and base_url.endswith("/v1/api")
            context = ssl.create_default_context(cafile=str(ca_file))
            with urllib.request.urlopen(f"{base_url}/iserver/accounts", context=context) as resp:
                assert json.load(resp)["accounts"] == [ACCOUNT]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert proc.returncode == 0
