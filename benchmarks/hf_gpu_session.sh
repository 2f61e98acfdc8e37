#!/usr/bin/env bash
# One call on a lent GPU machine that has no package index: install the carried wheels (WHEELS, e.g.
# bitsandbytes, langgraph, chromadb, pydantic), then the GPU tests, the throughput benchmark and the
# decode profile, each writing its log and JSON under OUT. Run from the repository root:
#     OUT=/tmp/out WHEELS=/path/to/wheels DATA=/path/to/silver_claims.csv bash benchmarks/hf_gpu_session.sh
set -o pipefail
OUT=${OUT:-/tmp/hf-out}
WHEELS=${WHEELS:-../.whl}
DATA=${DATA:-data/silver_claims.csv}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv
python3 -c "import torch, transformers, bitsandbytes, peft; print(torch.__version__, transformers.__version__, bitsandbytes.__version__, peft.__version__)"
if [ "${TESTS_S:-150}" != 0 ]; then
    timeout "${TESTS_S:-150}" python3 -m pytest -q -x -p no:cacheprovider tests/gpu 2>&1 | tee "$OUT/gpu_tests.log" | tail -15
fi
profile() {
    [ "${PROFILE_S:-150}" = 0 ] && return
    timeout "${PROFILE_S:-150}" python3 benchmarks/hf_profile.py --work /dev/shm/bench --data "$DATA" --batches 36 \
        --judge-batches 51 --json-out "$OUT/hf_profile.json" ${PROFILE_ARGS:-} 2>&1 | grep -v -i warning \
        | tee "$OUT/profile.log" | grep "^\[" | tail -4
}
[ "${PROFILE_FIRST:-0}" = 1 ] && profile
timeout "${BENCH_S:-330}" python3 benchmarks/hf_throughput.py --work /dev/shm/bench --data "$DATA" --claims 256 \
    --reference-claims "${REFERENCE:-2}" --json-out "$OUT/hf_throughput.json" ${BENCH_ARGS:-} 2>&1 \
    | grep -v -i warning | tee "$OUT/bench.log" | grep -v "^\[" | tail -12
[ "${PROFILE_FIRST:-0}" = 1 ] || profile
