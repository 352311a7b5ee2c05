"""Crucible's public REST API."""
