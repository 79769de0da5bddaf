"""Stage 3: semantic checks and resolution of a schema-valid spec into the typed model.

Resolving and checking are one walk: every reference (``call``, ``with``, ``{{VAR}}``, path
placeholders) is looked up once, and a failed lookup becomes a located diagnostic. The
leniency rules follow the spec authors' evident intent (naftiko-format §5.9); each one is
documented in README.md and reported where the official engine would behave differently.

The package splits the resolver by concern (see ``core``); ``resolve`` is its entry point.
"""

from .core import Resolver, resolve
from .shared import PLACEHOLDER

__all__ = ["PLACEHOLDER", "Resolver", "resolve"]
