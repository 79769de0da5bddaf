"""The ``naftiko-gen`` command line."""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from pathlib import Path

import click

from . import __version__, extras
from .pipeline import Analysis, analyse, generate
from .writer import diff_tree, write_tree

DEFAULT_OUTPUT = Path("generated")


def _report(analysis: Analysis, *, verbose: bool, quiet: bool) -> None:
    for d in analysis.diagnostics:
        if d.level == "warning" and quiet:
            continue
        click.echo(d.format(), err=True)
    if verbose or not quiet:
        errors = sum(d.level == "error" for d in analysis.diagnostics)
        warnings = sum(d.level == "warning" for d in analysis.diagnostics)
        if errors or warnings:
            click.echo(f"{analysis.path}: {errors} error(s), {warnings} warning(s)", err=True)


def _analyse_all(
    specs: tuple[str, ...], strict: bool, verbose: bool, quiet: bool, render_ahead: bool = False
) -> list[Analysis]:
    results = []
    for spec in specs:
        if spec.endswith((".examples.yaml", ".examples.yml")):
            # Mock examples live next to their spec, so `specs/*.yaml` globs include them.
            if verbose:
                click.echo(
                    f"{spec}: skipped (examples for 'naftiko-gen mock', not a spec)", err=True
                )
            continue
        analysis = analyse(spec, strict=strict, render_ahead=render_ahead)
        _report(analysis, verbose=verbose, quiet=quiet)
        results.append(analysis)
    return results


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""Examples:

\b
  naftiko-gen validate specs/*.yaml
  naftiko-gen build specs/interactive-brokers.yaml
  naftiko-gen check specs/*.yaml          # CI drift gate
""",
)
@click.version_option(__version__, prog_name="naftiko-gen")
def main() -> None:
    """Generate aiohttp REST adapters and MCP servers from Naftiko capability specs."""


_strict = click.option(
    "--strict", is_flag=True, help="Deviations from the official alpha2 schema are errors."
)
_verbose = click.option("-v", "--verbose", is_flag=True, help="Say more.")
_quiet = click.option("-q", "--quiet", is_flag=True, help="Errors only.")
_specs = click.argument(
    "specs", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str)
)
_output = click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Directory that holds one generated project per spec.",
)


@main.command()
@_specs
@_strict
@_verbose
@_quiet
def validate(specs: tuple[str, ...], strict: bool, verbose: bool, quiet: bool) -> None:
    """Check specs: JSON schema, then semantics. Exit 0 valid, 1 invalid.

    \b
    Problems are printed as FILE:LINE:COL: error|warning: message [json-pointer].
    """
    results = _analyse_all(specs, strict, verbose, quiet)
    for analysis in results:
        if analysis.ok and not quiet:
            click.echo(f"{analysis.path}: ok")
    sys.exit(0 if all(a.ok for a in results) else 1)


@main.command()
@_specs
@_output
@_strict
@_verbose
@_quiet
def build(specs: tuple[str, ...], output: Path, strict: bool, verbose: bool, quiet: bool) -> None:
    """Generate the adapter project of each spec into OUTPUT/<package>/ (atomically)."""
    results = _analyse_all(specs, strict, verbose, quiet, render_ahead=True)
    if not all(a.ok for a in results):
        click.echo("build failed: nothing was written", err=True)
        sys.exit(1)
    for analysis in results:
        cap = analysis.capability
        assert cap is not None
        files = generate(cap)
        target = output / cap.package
        write_tree(target, files)
        if not quiet:
            kinds = Counter(f.path.suffix or f.path.name for f in files)
            summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            click.echo(f"{analysis.path} -> {target}/ ({len(files)} files: {summary})")
            if cap.rest:
                click.echo(f"  REST :{cap.rest.port}  {len(cap.rest.routes)} operations")
            if cap.mcp:
                where = f":{cap.mcp.port}/mcp" if cap.mcp.transport == "http" else "stdio"
                click.echo(
                    f"  MCP  {where}  {len(cap.mcp.tools)} tools: {', '.join(t.name for t in cap.mcp.tools)}"
                )
            if verbose:
                for f in files:
                    click.echo(f"  {target / f.path}")


@main.command()
@_specs
@_output
@_strict
@_quiet
def check(specs: tuple[str, ...], output: Path, strict: bool, quiet: bool) -> None:
    """Fail (exit 1, with a diff) when OUTPUT/ is not what the specs generate."""
    results = _analyse_all(specs, strict, False, True, render_ahead=True)
    if not all(a.ok for a in results):
        sys.exit(1)
    drift = False
    for analysis in results:
        cap = analysis.capability
        assert cap is not None
        target = output / cap.package
        diff = diff_tree(target, generate(cap))
        if diff:
            drift = True
            click.echo(diff, nl=False)
            click.echo(
                f"{analysis.path}: {target}/ is out of date; run 'naftiko-gen build {analysis.path} -o {output}'",
                err=True,
            )
        elif not quiet:
            click.echo(f"{analysis.path}: {target}/ is up to date")
    sys.exit(1 if drift else 0)


def _lazy_command(name: str, module: str, attribute: str, summary: str) -> None:
    """Register a command whose implementation (and its heavier imports, e.g. aiohttp) loads
    only when it runs; its own options and --help are those of the real command."""

    @main.command(
        name,
        help=f"{summary} (see 'naftiko-gen {name} --help').",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    @click.pass_context
    def delegate(ctx: click.Context) -> None:
        extra = extras.COMMANDS[name]
        absent = extras.missing(extra)
        if not absent:
            try:
                implementation = importlib.import_module(f"naftiko_gen.{module}")
            except ModuleNotFoundError as exc:  # a dependency of a dependency, say
                absent = [exc.name or str(exc)]
        if absent:
            click.echo(extras.install_hint(name, extra, absent), err=True)
            sys.exit(2)
        command = getattr(implementation, attribute)
        command.main(args=ctx.args, prog_name=f"naftiko-gen {name}", standalone_mode=True)


_lazy_command("mock", "mock", "mock_command", "Serve a simulated upstream for a spec")
_lazy_command(
    "demo",
    "demo",
    "demo_command",
    "Build the IBKR adapters and run them against the simulated gateway",
)
_lazy_command(
    "corpus",
    "corpus",
    "corpus_command",
    "Validate, build, lint and test every spec in a folder; print a tally",
)
_lazy_command(
    "upgrade",
    "upgrade",
    "upgrade_command",
    "Write the Ikanos (beta5) form of an alpha2 spec",
)
