"""Dialect front ends: which format a document is written in, and its normalization.

Two dialects of one capability model are read:

* ``naftiko: 1.0.0-alpha2`` (:mod:`.alpha2`): the format the resolver was written for; its
  normalized form is the document itself.
* ``ikanos: 1.0.0-alpha3`` ... ``1.0.0-beta5`` (:mod:`.ikanos`): the same model renamed, with
  keyed maps instead of lists of named objects. Its front end translates a document into the
  alpha2-shaped *normalized* structure, recording for every moved node where it came from
  (:attr:`Report.aliases`), so that everything after it (the shared dialect schema, the
  resolver, the model, the renderer) is written once and its diagnostics still point at the
  author's own lines and keys.

Each front end checks its document against its official schema, unmodified (deviations are
warnings, errors under ``--strict``) and against what generation needs (errors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..diagnostics import Report
from ..loader import LoadedSpec, load_spec

ALPHA2 = "naftiko 1.0.0-alpha2"
IKANOS = "ikanos 1.0.0-beta5"
IKANOS_VERSIONS = re.compile(r"^1\.0\.0-(alpha[34]|beta[1-5])$")


@dataclass
class Document:
    """A loaded document in its normalized (alpha2-shaped) form."""

    loaded: LoadedSpec  # .data is the normalized form; .report maps it to the author's file
    dialect: str  # ALPHA2 or IKANOS ("" when the root says neither usably)
    source: dict[str, Any]  # the data as the author wrote it


def detect(data: dict[str, Any], report: Report) -> str:
    """The dialect of *data* by its root key; a located error (and ``""``) when the version
    key is missing, wrong, or names the other dialect's version."""
    if "ikanos" in data and "naftiko" in data:
        report.error(
            "a document has one version key: 'ikanos:' (Ikanos) or 'naftiko:' (alpha2), not both; "
            "remove one",
            ("naftiko",),
        )
        return ""
    if "ikanos" in data:
        version = data["ikanos"]
        if not isinstance(version, str):
            report.error(
                f'the Ikanos version must be a string such as "1.0.0-beta5", not {version!r} '
                "(quote it)",
                ("ikanos",),
            )
            return ""
        if version.startswith("1.0.0-alpha") and not IKANOS_VERSIONS.match(version):
            report.error(
                f"ikanos: {version!r} is an alpha2-era version: write 'naftiko: {version}' for "
                "that format, or 'ikanos: 1.0.0-beta5' for Ikanos",
                ("ikanos",),
            )
            return ""
        if not IKANOS_VERSIONS.match(version):
            report.error(
                f"unknown Ikanos version {version!r}: naftiko-gen reads 1.0.0-alpha3 ... "
                "1.0.0-beta5; write 'ikanos: 1.0.0-beta5'",
                ("ikanos",),
            )
            return ""
        return IKANOS
    version = data.get("naftiko")
    if isinstance(version, str) and IKANOS_VERSIONS.match(version):
        report.error(
            f"version {version!r} is an Ikanos version: from 1.0.0-alpha3 the root key is "
            f"'ikanos:' (write 'ikanos: {version}')",
            ("naftiko",),
        )
        return ""
    # Everything else (alpha2, a wrong alpha version, no version at all) is checked by the
    # alpha2 front end's schema, with the messages alpha2 authors know.
    return ALPHA2


def prepare(loaded: LoadedSpec) -> Document:
    """Detect the dialect of a loaded document and normalize it (errors go to its report;
    the normalized data is ``{}`` when the document cannot be used)."""
    from . import alpha2, ikanos

    source = loaded.data
    if loaded.report.errors or not source:
        return Document(loaded, "", source)
    dialect = detect(source, loaded.report)
    if not dialect:
        loaded.data = {}
        return Document(loaded, "", source)
    front = ikanos if dialect == IKANOS else alpha2
    loaded.data = front.normalize(source, loaded.report)
    return Document(loaded, dialect, source)


def check_dialect(document: Document) -> bool:
    """What generation needs (errors); False when generation cannot go on."""
    from . import alpha2, ikanos

    if document.loaded.report.errors or not document.dialect:
        return False
    front = ikanos if document.dialect == IKANOS else alpha2
    return front.check_dialect(document.loaded.data, document.loaded.report)


def check_official(document: Document, *, strict: bool) -> None:
    """The dialect's official schema, unmodified: warnings (errors under ``strict``)."""
    from . import alpha2, ikanos

    if not document.dialect:
        return
    front = ikanos if document.dialect == IKANOS else alpha2
    front.check_official(document.source, document.loaded.report, strict=strict)


def load_document(path: str | Path, *, strict: bool = False) -> Document:
    """Load, normalize and check *path* (both schemas): for imported files."""
    document = prepare(load_spec(path))
    if check_dialect(document):
        check_official(document, strict=strict)
    return document
