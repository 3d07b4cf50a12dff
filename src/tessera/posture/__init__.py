"""Posture: rules over the inventory → findings with a lifecycle, risk scores, compliance map."""
