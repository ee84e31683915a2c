"""Stands for a plugin whose compiled extension is missing or built for another ABI."""

raise ImportError("libruvector_native.so: cannot open shared object file")
