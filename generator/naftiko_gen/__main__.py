"""``python -m naftiko_gen`` is ``naftiko-gen``."""

from .cli import main

main()
