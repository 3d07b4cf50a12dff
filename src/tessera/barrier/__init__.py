"""Barrier: envelope encryption and seal."""
