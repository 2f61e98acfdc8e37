"""The Typer app: one module per command group, thin over the library."""
