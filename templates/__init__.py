"""Jinja templates of naftiko-gen, one per generated file and named after it (a package so they ship in the wheel)."""
