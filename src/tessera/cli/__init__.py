"""`tessera` command line: typer app, one module per domain; HTTP client of the server."""
