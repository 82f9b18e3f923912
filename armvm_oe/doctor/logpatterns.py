"""Compatibility name for the catalogue: the failure patterns now live as
data in :mod:`armvm_oe.doctor.logcatalogue` (one module per source that prints
the messages); the tie rule is stated there."""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue import BENIGN, GENERIC_ERROR, PATTERNS, Pattern, Src

__all__ = ["BENIGN", "GENERIC_ERROR", "PATTERNS", "Pattern", "Src"]
