#!/usr/bin/env bash
# Runs the quick matrix on a GPU host, CPU and GPU rows, on the JAX and PyTorch
# backends, and leaves the runs, host.txt and log.txt in $OUT (default:
# results/reference/<the GPU's name>, e.g. nvidia-h100-80gb-hbm3/).
# The lent GPU hosts have JAX and PyTorch but no Keras: .whl/ carries it
# (bash ../shared/gpu/keras-wheels.sh). Each backend gets a time limit; SIGINT
# makes pytest stop cleanly and still write the cases it finished.
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
  KERAS_BACKEND=jax python3 -c "import jax, torch, keras; print('jax', jax.__version__, jax.devices()); print('torch', torch.__version__, torch.cuda.get_device_name(0)); print('keras', keras.__version__)"
  nproc; grep -m1 'model name' /proc/cpuinfo
} > "$OUT/host.txt" 2>&1
# PyTorch runs Keras eagerly (a Python loop over 400 LSTM steps): its default
# subset answers "GPU against CPU" and "cuDNN against not" within its time.
JAX_SUBSET=${JAX_SUBSET:-}
TORCH_SUBSET=${TORCH_SUBSET:---models=mnist_cnn,imdb_lstm,imdb_lstm_cudnn --modes=infer,train}
for spec in ${RUNS:-jax:380 torch:140}; do
  backend=${spec%%:*}; limit=${spec##*:}
  subset=JAX_SUBSET; [ "$backend" = torch ] && subset=TORCH_SUBSET
  echo "== $backend (limit ${limit}s) ${!subset}"
  # shellcheck disable=SC2086  # the subset is a list of options
  timeout -s INT -k 20 "$limit" python3 -m pytest bench/ -q -p no:cacheprovider --backend "$backend" \
    --devices cpu,gpu --results-dir "$OUT" ${!subset} 2>&1 | grep -v '^test_model\[' | tail -n 150
done >> "$OUT/log.txt" 2>&1
