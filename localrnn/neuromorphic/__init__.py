"""Porting the online learners to neuromorphic hardware (issue 11).

- :mod:`.quantspec`: the fixed-point format string shared by the step spec and the
  integer online engine (``QuantSpec.parse("w8,s16,t12,acc32")``).
- :mod:`.spec`: one time step of the online learner as a hardware spec (state,
  equations, operation counts, memory, communication, locality) and the generated
  part of ``docs/neuromorphic.md``.
- :mod:`.nir`: the trained network as a NIR graph (needs ``localrnn[nir]``).
- :mod:`.lava`: the local rules as Lava/Loihi learning-rule strings.
- :mod:`.formats`: the formats of ``localrnn export`` (md, json, lava, nir): the
  options each needs and takes, and one function that writes any of them.
- :mod:`.fixed`: the integer online learner; :mod:`.quantsweep`: learning against
  the word length (``localrnn quantize-sweep``).

Importing this package is cheap (no Numba, no ``nir``).
"""
from .quantspec import QuantSpec

__all__ = ["QuantSpec"]
