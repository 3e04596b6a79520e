"""One time step of the online learner as a hardware spec (``localrnn export``).

:func:`step_spec` gives, for one step of a rule in a form at given sizes, every state
variable with its word length, every update equation with its operation counts and
the locality of its terms, memory, communication and the three-factor form
(:class:`StepSpec`: ``to_dict``, ``to_json``, ``to_markdown``).  The package, one
module per idea:

- :mod:`.poly`: the polynomials in N, I, O, T the counts are written in (:class:`Poly`);
- :mod:`.tables`: the operation-count tables of every rule and form, and the counting
  convention;
- :mod:`.step`: :func:`step_spec` and :class:`StepSpec` (the tables evaluated at sizes
  and a quantisation);
- :mod:`.markdown`: one spec as a markdown page;
- :mod:`.docpage`: the generated part of ``docs/neuromorphic.md``
  (``python -m localrnn.neuromorphic.spec --write-doc docs/neuromorphic.md``).
"""
from .docpage import generated_part, render_neuromorphic_doc, write_doc
from .markdown import step_markdown
from .poly import Poly
from .step import StepSpec, step_spec
from .tables import DEFAULT_T, LOCALITY, OPS, OPS_DOC, Equation, Variable

__all__ = ["step_spec", "StepSpec", "Variable", "Equation", "Poly", "OPS", "OPS_DOC", "LOCALITY",
           "DEFAULT_T", "step_markdown", "render_neuromorphic_doc", "generated_part", "write_doc"]
