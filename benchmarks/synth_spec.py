"""Synthetic Naftiko capability specs for the generation benchmark.

``synth_spec(n)`` returns a spec (YAML text) with *n* consumed GET operations. Each operation has
one path parameter and two query parameters, and is exposed once as a REST route and once as an
MCP tool, both binding all three inputs with ``with``. The shape follows the seed spec
(``specs/interactive-brokers.yaml``) so that generation cost per operation is comparable.

    python benchmarks/synth_spec.py 100 > /tmp/synth-100.yaml
"""

from __future__ import annotations

import argparse
import sys

import yaml

NAMESPACE = "synthetic"


def _consumed(i: int) -> dict:
    return {
        "name": f"items-{i}",
        "path": f"/group{i % 10}/items{i}/{{itemId}}",
        "operations": [
            {
                "name": f"get-item-{i}",
                "method": "GET",
                "description": f"Get item {i}",
                "inputParameters": [
                    {"name": "itemId", "in": "path", "type": "string", "required": True},
                    {"name": "limit", "in": "query", "type": "integer"},
                    {"name": "filter", "in": "query", "type": "string"},
                ],
                "outputRawFormat": "json",
                "outputParameters": [{"name": "result", "type": "object", "value": "$."}],
            }
        ],
    }


def _rest_route(i: int) -> dict:
    return {
        "path": f"/group{i % 10}/items{i}/{{itemId}}",
        "name": f"get-item-{i}",
        "inputParameters": [
            {"name": "itemId", "in": "path", "type": "string", "description": "Item id"},
            {"name": "limit", "in": "query", "type": "integer", "description": "Page size"},
            {"name": "filter", "in": "query", "type": "string", "description": "Filter"},
        ],
        "operations": [
            {
                "method": "GET",
                "name": f"get-item-{i}",
                "description": f"Get item {i}",
                "call": f"{NAMESPACE}.get-item-{i}",
                "with": {
                    "itemId": f"{NAMESPACE}-rest.itemId",
                    "limit": f"{NAMESPACE}-rest.limit",
                    "filter": f"{NAMESPACE}-rest.filter",
                },
                "outputParameters": [{"type": "object", "mapping": "$."}],
            }
        ],
    }


def _mcp_tool(i: int) -> dict:
    return {
        "name": f"get-item-{i}",
        "description": f"Get item {i}",
        "hints": {"readOnly": True, "destructive": False, "idempotent": True},
        "call": f"{NAMESPACE}.get-item-{i}",
        "with": {"itemId": "tools.itemId", "limit": "tools.limit", "filter": "tools.filter"},
        "inputParameters": [
            {"name": "itemId", "type": "string", "description": "Item id", "required": True},
            {"name": "limit", "type": "integer", "description": "Page size", "required": False},
            {"name": "filter", "type": "string", "description": "Filter", "required": False},
        ],
        "outputParameters": [{"type": "object", "mapping": "$."}],
    }


def synth_spec(n: int) -> str:
    """A valid spec with *n* operations, each exposed as one REST route and one MCP tool."""
    spec = {
        "naftiko": "1.0.0-alpha2",
        "info": {
            "label": f"Synthetic API {n}",
            "description": f"Synthetic capability with {n} operations (benchmark input).",
        },
        "capability": {
            "consumes": [
                {
                    "type": "http",
                    "namespace": NAMESPACE,
                    "baseUri": "http://127.0.0.1:9/api",
                    "description": "Synthetic upstream.",
                    "authentication": {"type": "bearer", "token": "{{SYNTHETIC_TOKEN}}"},
                    "resources": [_consumed(i) for i in range(n)],
                }
            ],
            "exposes": [
                {
                    "type": "rest",
                    "port": 8080,
                    "namespace": f"{NAMESPACE}-rest",
                    "resources": [_rest_route(i) for i in range(n)],
                },
                {
                    "type": "mcp",
                    "port": 9090,
                    "namespace": f"{NAMESPACE}-mcp",
                    "transport": "http",
                    "description": "Synthetic MCP adapter.",
                    "tools": [_mcp_tool(i) for i in range(n)],
                },
            ],
        },
        "binds": [{"namespace": "env", "keys": {"SYNTHETIC_TOKEN": "SYNTHETIC_TOKEN"}}],
    }
    return yaml.safe_dump(spec, sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("operations", type=int, help="number of operations (>= 1)")
    args = parser.parse_args(argv)
    if args.operations < 1:
        parser.error("operations must be at least 1")
    sys.stdout.write(synth_spec(args.operations))
    return 0


if __name__ == "__main__":
    sys.exit(main())
