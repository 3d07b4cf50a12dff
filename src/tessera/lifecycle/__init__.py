"""Lifecycle automation: scheduled renewals and rotations claimed through the database."""
