"""Engines: plain Python with no MCP imports. The MCP tool functions live in `skilldeck.server`."""
