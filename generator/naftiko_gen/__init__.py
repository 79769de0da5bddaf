"""naftiko-gen: Naftiko capability specs in, deployable REST adapters and MCP servers out."""

__version__ = "0.1.0"
