#!/usr/bin/env bash
# GPU check: make sure TensorFlow with CUDA is there, then run benchmarks/gpu_check.py
# (one 224 px trial with mixed precision and XLA, GradCAM and KernelSHAP throughput,
# estimates for the paper's whole workload) within about 5 minutes.
#
# Usage, from anywhere:
#   benchmarks/gpu_check.sh [OUT_DIR]        # default: $OUT, else benchmarks/gpu-check
#
# Python: $PYTHON, else the repository's .venv/bin/python, else python3.
# TensorFlow: used as found when it sees a GPU. Otherwise, only with GPU_CHECK_INSTALL=1,
# tensorflow-cpu is replaced by tensorflow[and-cuda] at the version pinned in
# requirements.txt, from $WHEELHOUSE (a folder of wheels for this Python:
# `pip download "tensorflow[and-cuda]==X" -d DIR` on a connected machine) when set, else
# from the package registry; a dry run comes first, so a failed install leaves the venv as
# it was. Every failure stops with a clear message and exit status 3, also written into
# OUT_DIR/gpu_check.json.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT_DIR=${1:-${OUT:-benchmarks/gpu-check}}
mkdir -p "$OUT_DIR"
LIMIT_S=${GPU_CHECK_LIMIT_S:-330}

fail() {
    echo "gpu_check: $*" >&2
    local reason=${*//\"/\'}
    printf '{"status": "failed", "reason": "%s"}\n' "$reason" >"$OUT_DIR/gpu_check.json"
    exit 3
}

PY=${PYTHON:-}
if [ -z "$PY" ]; then
    for candidate in .venv/bin/python python3; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "" 2>/dev/null; then
            PY=$candidate
            break
        fi
    done
fi
[ -n "$PY" ] || fail "no Python found (set PYTHON)"
echo "gpu_check: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

TF_VERSION=$(sed -n 's/^tensorflow-cpu==//p' requirements.txt)
[ -n "$TF_VERSION" ] || fail "no tensorflow-cpu pin in requirements.txt"

tf_sees_gpu() {
    "$PY" - <<'EOF' 2>/dev/null
import sys
import tensorflow as tf
sys.exit(0 if tf.config.list_physical_devices("GPU") else 1)
EOF
}

registry_reachable() {
    timeout 20 "$PY" -m pip download --no-deps --quiet --dest "$(mktemp -d)" \
        "six" >/dev/null 2>&1
}

pip_install() {  # pip install "$@" from $WHEELHOUSE or the registry
    if [ -n "${WHEELHOUSE:-}" ]; then
        "$PY" -m pip install --quiet --no-index --find-links "$WHEELHOUSE" "$@"
    else
        "$PY" -m pip install --quiet "$@"
    fi
}

if tf_sees_gpu; then
    echo "gpu_check: TensorFlow $("$PY" -c 'import tensorflow as tf; print(tf.__version__)') sees a GPU"
else
    if [ "${GPU_CHECK_INSTALL:-0}" != 1 ]; then
        fail "TensorFlow sees no GPU; rerun with GPU_CHECK_INSTALL=1 to replace tensorflow-cpu by tensorflow[and-cuda]==$TF_VERSION in $("$PY" -c 'import sys; print(sys.prefix)') (from WHEELHOUSE or the registry)"
    fi
    if [ -z "${WHEELHOUSE:-}" ] && ! registry_reachable; then
        fail "TensorFlow with a visible GPU is missing and no package registry is reachable: set WHEELHOUSE to a folder holding tensorflow[and-cuda]==$TF_VERSION and its dependencies as wheels for $("$PY" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])')"
    fi
    # Nothing is removed before the install is known to resolve.
    pip_install --dry-run "tensorflow[and-cuda]==$TF_VERSION" >/dev/null \
        || fail "could not install tensorflow[and-cuda]==$TF_VERSION (dry run failed; nothing was changed)"
    # tensorflow-cpu and tensorflow share their files: the README's GPU install swaps them.
    if "$PY" -m pip show --quiet tensorflow-cpu >/dev/null 2>&1; then
        echo "gpu_check: replacing tensorflow-cpu (as README.md's GPU section does)"
        "$PY" -m pip uninstall --yes --quiet tensorflow-cpu
    fi
    echo "gpu_check: installing tensorflow[and-cuda]==$TF_VERSION ..."
    pip_install "tensorflow[and-cuda]==$TF_VERSION" \
        || fail "could not install tensorflow[and-cuda]==$TF_VERSION"
    tf_sees_gpu || fail "tensorflow[and-cuda]==$TF_VERSION is installed but sees no GPU (driver? CUDA_VISIBLE_DEVICES?)"
fi

# dermviz's own dependencies (keras, scikit-image, opencv, shap, ...), without touching TF.
if ! "$PY" -c "import keras, skimage, cv2, shap, sklearn, pandas" 2>/dev/null; then
    grep -v '^tensorflow' requirements.txt >"$OUT_DIR/requirements-no-tf.txt"
    pip_install -r "$OUT_DIR/requirements-no-tf.txt" \
        || fail "could not install dermviz's requirements (requirements.txt without TensorFlow)"
fi

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
timeout "$LIMIT_S" "$PY" benchmarks/gpu_check.py --require-gpu --out "$OUT_DIR" \
    || fail "benchmarks/gpu_check.py failed or ran past ${LIMIT_S} s (see its output above)"
echo "gpu_check: wrote $OUT_DIR/gpu_check.json and $OUT_DIR/gpu_check.md"
