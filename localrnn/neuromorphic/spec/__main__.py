"""``python -m localrnn.neuromorphic.spec --write-doc PATH``: regenerate the generated part
of the neuromorphic page (the repository's ``docs/neuromorphic.md``) in place."""
from __future__ import annotations

import sys

from .docpage import write_doc

USAGE = "usage: python -m localrnn.neuromorphic.spec --write-doc PATH (e.g. docs/neuromorphic.md)"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "--write-doc":
        print(USAGE, file=sys.stderr)
        return 2
    try:
        print(write_doc(argv[1]))
    except (ValueError, OSError) as e:
        print(f"Error: {argv[1]}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
