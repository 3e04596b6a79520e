"""Porting the online learners to neuromorphic hardware (issue 11).

- :mod:`.quantspec`: the fixed-point format string shared by the export and the
  integer online engine (``QuantSpec.parse("w8,s16,t12,acc32")``).
- :mod:`.export`: one time step of the online learner as a spec (state, equations,
  operation counts, memory, communication, locality) and the generated docs page.
- :mod:`.nir_export`: the trained network as a NIR graph (needs ``localrnn[nir]``).

Importing this package is cheap (no Numba, no ``nir``).
"""
from .quantspec import QuantSpec

__all__ = ["QuantSpec"]
