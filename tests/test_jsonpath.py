"""The generator's JSONPath check admits only paths the generated packages can compile."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse
from naftiko_gen.jsonpath import problem

EXAMPLES = int(os.environ.get("NAFTIKO_FUZZ_EXAMPLES", "300"))


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_@-]{0,8}", fullmatch=True)
_quoted = st.text(
    st.characters(blacklist_characters="'\\", blacklist_categories=("Cs",)), max_size=8
)
_literals = st.one_of(
    st.integers(-99, 99).map(str),
    _quoted.map(lambda t: f"'{t}'"),
    st.sampled_from(["true", "false", "null", "1.5"]),
)
_segments = st.one_of(
    _names.map(lambda n: "." + n),
    _names.map(lambda n: ".." + n),
    st.sampled_from([".*", "..*", "[*]", "..[*]", "[0]", "[-1]", "[1:3]", "[:2]", "..[2]"]),
    _quoted.map(lambda t: f"['{t}']"),
    st.tuples(_names, st.sampled_from(["==", "!=", "<", ">=", "=~"]), _literals).map(
        lambda f: f"[?(@.{f[0]} {f[1]} {f[2]})]"
    ),
    _names.map(lambda n: f"[?(@.{n})]"),
)
_paths = st.lists(_segments, max_size=6).map(lambda parts: "$" + "".join(parts))


@settings(max_examples=EXAMPLES, deadline=None)
@given(_paths)
def test_every_accepted_path_compiles(path: str) -> None:
    """Paths built from the documented segments: the check accepts them and jsonpath-ng compiles them."""
    assert problem(path) is None, path
    parse(path)  # raises if jsonpath-ng cannot compile it


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(alphabet="$.[]*?()@'\"=<>!:-_ abz019é", max_size=14))
def test_whatever_the_check_accepts_compiles(path: str) -> None:
    """Random JSONPath-ish text: accepted only if jsonpath-ng compiles it."""
    if problem(path) is None:
        parse("$" if path == "$." else path)  # the generator writes "$." as "$"


@pytest.mark.parametrize("path", ["$.a[", "$.a b", "$.$top", "$.1a", "$.é", "$.a/b", "$$"])
def test_paths_jsonpath_ng_rejects_are_refused(path: str) -> None:
    with pytest.raises((JsonPathLexerError, JsonPathParserError)):
        parse(path)
    assert problem(path) is not None
