"""Property tests of the generated inbound ``Guard`` (the full-feature golden's ``inbound.py``,
which knows all three schemes): whatever a client sends, ``admits`` answers True or False,
never raises, and admits exactly the credential it was given."""

from __future__ import annotations

import base64
import importlib.util
import sys
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import ROOT
from .hostile_support import fuzz_budget

INBOUND = ROOT / "tests/golden/full-feature/expected/full_feature/inbound.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("golden_inbound", INBOUND)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


GUARD = _module().Guard
# Header values as aiohttp hands them over: any text, including controls and lone surrogates.
anything = st.text(st.characters(codec="utf-8") | st.sampled_from(["\udcff", "\x00", " ", ":"]))
secrets = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=fuzz_budget(200), deadline=None)
@given(secret=secrets, value=anything)
def test_bearer_admits_only_its_token(secret: str, value: str) -> None:
    guard = GUARD("bearer", secret.strip() or "x")
    token = guard.secret
    assert guard.admits(f"Bearer {token}") is True
    assert guard.admits(f"  bEaReR   {token}  ") is True
    verdict = guard.admits(value)
    assert verdict is (
        value.strip().partition(" ")[0].lower() == "bearer"
        and value.strip().partition(" ")[2].strip() == token
    )


@settings(max_examples=fuzz_budget(200), deadline=None)
@given(user=secrets, password=secrets, value=anything)
def test_basic_admits_only_its_pair(user: str, password: str, value: str) -> None:
    guard = GUARD("basic", f"{user}:{password}")
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert guard.admits(f"Basic {encoded}") is True
    assert (
        guard.admits(f"Basic {base64.b64encode(f'{user}:{password}x'.encode()).decode()}") is False
    )
    assert guard.admits(f"Bearer {encoded}") is False
    assert guard.admits(value) in (True, False)  # never raises, whatever the bytes


@settings(max_examples=fuzz_budget(200), deadline=None)
@given(key=secrets, value=anything)
def test_api_key_is_compared_whole(key: str, value: str) -> None:
    guard = GUARD("apikey", key, name="X-Key")
    assert guard.admits(key) is True
    assert guard.admits(value) is (value == key)
    assert guard.admits(None) is False
