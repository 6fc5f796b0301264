"""The province's unified 好差评 system: its wire format, signing and HTTP client (Shandong
protocol)."""
