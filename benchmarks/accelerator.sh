#!/usr/bin/env bash
# The prepared accelerator run, in one command that needs no network:
#
#   bash benchmarks/accelerator.sh MNIST_DIR OUT_DIR [benchmarks.run flags]
#   bash benchmarks/accelerator.sh MNIST_DIR OUT_DIR --device cpu --smoke   # the CPU check (tests)
#
# On a bare GPU box (jax with CUDA, flax, optax, chex, orbax, torch, matplotlib and
# numpy installed; no Keras, no tensorflow-datasets): installs this project without
# its dependencies, then runs benchmarks.run on the GPU: the tutorial's full job
# (50 epochs of each autoencoder on the MNIST IDX files in MNIST_DIR), the training
# contenders, a per-op profile, MobileNetV2 training (from_keras, Keras fit,
# torchvision) and the layer cases (float32 and bfloat16; MobileNetV2's depthwise, 1x1 and first convs
# right after the autoencoder shapes) and the sequence layers (LSTM, GRU, MultiHeadAttention), in that order, 3 timed repeats each, within
# --budget seconds (default 400: the 280 s the autoencoder parts and layers took on
# the H200, plus about 2 minutes for MobileNetV2; what is left then is recorded as
# skipped). The Keras contenders (and jaxlayers' MobileNetV2, converted from Keras's)
# run where Keras imports, torchvision's where torchvision imports; wheels in .whl/ of
# the checkout (e.g. keras, namex, optree, a torchvision paired with the box's torch)
# are installed first. --smoke runs every part but MobileNetV2's.
# Writes OUT_DIR/accelerator.json (device, versions, every sample),
# OUT_DIR/accelerator.md (the tables), OUT_DIR/log.txt and OUT_DIR/nvidia-smi.txt.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: bash benchmarks/accelerator.sh MNIST_DIR OUT_DIR [--device gpu|cpu] [--smoke|--quick] [--budget S]" >&2
  exit 2
fi
mnist="$(cd "$1" && pwd)"
mkdir -p "$2"
out="$(cd "$2" && pwd)"
shift 2
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"

# This project only: every dependency is already on the box, and nothing can be fetched.
# (JAXLAYERS_SKIP_INSTALL=1: run from the checkout as it is; the test suite does.)
if [ -n "${JAXLAYERS_SKIP_INSTALL:-}" ]; then
  echo "JAXLAYERS_SKIP_INSTALL set: not installing" >"$out/pip.log"
elif ! "$python" -m pip install --quiet --no-deps --no-build-isolation --no-index -e . >"$out/pip.log" 2>&1; then
  echo "note: could not install the project (see pip.log); running it from the checkout" >&2
fi
if compgen -G ".whl/*.whl" >/dev/null; then
  site="$(mktemp -d)"
  if "$python" -m pip install --quiet --no-index --no-deps --no-compile --target "$site" .whl/*.whl >>"$out/pip.log" 2>&1; then
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "note: the wheels in .whl/ do not install here (see pip.log); going on without them" >&2
  fi
fi
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv \
  >"$out/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" >"$out/nvidia-smi.txt"

args=("$@")
case " ${args[*]-} " in *" --device "*) ;; *) args=(--device gpu "${args[@]}") ;; esac
# --smoke checks that every part runs: no budget unless given (a slow machine would skip parts)
case " ${args[*]} " in *" --budget "*|*" --smoke "*) ;; *) args+=(--budget 400) ;; esac
case " ${args[*]} " in *" --repeats "*|*" --smoke "*) ;; *) args+=(--repeats 3) ;; esac

# --smoke leaves out MobileNetV2 (its compile alone is minutes on CPU; tests run it on its own, -m slow)
parts=(--only fulljob --only training --only profile --only applications --only layers --only sequence)
case " ${args[*]} " in *" --smoke "*) parts=(--only fulljob --only training --only profile --only layers --only sequence) ;; esac
"$python" -m benchmarks.run "${parts[@]}" \
  --mnist-dir "$mnist" --json "$out/accelerator.json" --markdown "$out/accelerator.md" "${args[@]}" \
  2>&1 | tee "$out/log.txt"
