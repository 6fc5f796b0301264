"""Connectors to other systems: the province's unified 好差评 system (built in the forwarding
issue)."""
