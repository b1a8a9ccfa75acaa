#!/usr/bin/env bash
# Runs the reference stages on a GPU host and leaves the runs, host.txt and log.txt in $OUT
# (default: results/reference/<the GPU's name>, e.g. nvidia-h200/), and all of it in $OUT.tgz.
# The lent GPU hosts have JAX and PyTorch but no Keras: .whl/ carries it
# (bash ../shared/gpu/keras-wheels.sh). Each stage is "BACKEND LIMIT_S PYTEST_ARGS..." and
# gets its time limit; SIGINT makes pytest stop cleanly and still write the cases it finished.
set -u
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
gpu=$(printf '%s' "${gpu:-no-gpu}" | tr '[:upper:]' '[:lower:]' | tr -cs 'a-z0-9' '-' | sed 's/-*$//')
OUT=${OUT:-results/reference/$gpu}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export KERAS_HOME=/tmp/keras-home
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  KERAS_BACKEND=jax python3 -c "import jax, torch, keras; print('jax', jax.__version__, jax.devices()); print('torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no cuda'); print('keras', keras.__version__)"
  nproc; grep -m1 'model name' /proc/cpuinfo
} > "$OUT/host.txt" 2>&1
# The models that load a GPU, in float32 and mixed bfloat16, and on the host CPU for the speedup; then
# the quick matrix's tutorial models (PyTorch runs Keras eagerly: a subset that answers GPU against CPU).
# On the H200 (2026-11-27) a JAX GPU case of these models took 15-30 s, most of it compiling: one pass
# and two batch sizes let a stage finish within its limit.
DEFAULT_STAGES="jax 170 --models vision,transformer --devices gpu --modes infer,train --batch-sizes 1,128 --passes 1
jax 150 --models vision,transformer --devices gpu --modes infer,train --batch-sizes 1,128 --passes 1 --precision mixed_bfloat16
jax 45 --models vision,transformer --devices cpu --modes infer --batch-sizes 1,32 --passes 1
jax 100 --devices cpu,gpu --passes 2
torch 55 --models mnist_cnn,imdb_lstm_cudnn --modes infer,train --devices cpu,gpu --passes 2"
while read -r backend limit args; do
  [ -z "$backend" ] && continue
  echo "== $backend (limit ${limit}s) $args"
  # shellcheck disable=SC2086  # the stage's options are a list
  timeout -s INT -k 25 "$limit" python3 -m pytest bench/ -q -p no:cacheprovider --backend "$backend" \
    --results-dir "$OUT" $args 2>&1 | grep -v '^test_model\[' | tail -n 60
done <<< "${STAGES:-$DEFAULT_STAGES}" >> "$OUT/log.txt" 2>&1
tar czf "$OUT.tgz" -C "$(dirname "$OUT")" "$(basename "$OUT")"
