"""The MCP surface of skilldeck: the server, its tool adapters, transports and the CLI."""
