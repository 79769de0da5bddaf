"""The seed spec and its mock examples, shipped in the wheel as ``naftiko_gen.specs``: the spec
``naftiko-gen demo`` builds and runs when it is given none."""
