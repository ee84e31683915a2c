"""Backends that ship inside ruvec (registered through entry points like any other)."""
