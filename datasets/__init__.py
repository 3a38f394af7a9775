"""Embedded datasets shipped with finsupport (package data)."""
