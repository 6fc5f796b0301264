"""Rectification of real-name bad reviews: tickets, workflow, deadlines, staff access."""
