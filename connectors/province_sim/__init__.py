"""A province simulator: the Shandong protocol over real HTTP, checking what the province checks."""
