"""Fuzzing the index loader of a backend: hostile bytes in, only typed errors or a working
index out.

``inputs`` makes input number ``i`` from (seed, i) alone, so any finding is reproduced by
its number; ``probe`` loads one input and checks what came back; ``worker`` runs a range of
inputs in a process under an address-space limit; ``supervisor`` restarts workers past a
crash or a hang and adds up the outcomes. ``python -m ruvector_conformance.fuzz --help``
(``make fuzz``) runs it.
"""
