"""Rectification of real-name bad reviews: tickets, workflow, deadlines (built in the rectification issue)."""
