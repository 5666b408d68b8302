#!/usr/bin/env bash
# Run accelbench, vllm bench serve and AIPerf against one OpenAI-compatible server with the
# same shape: 40 requests, 128 prompt tokens, 32 output tokens, closed loop concurrency 1.
# Usage: bench_all.sh URL NAME KIND(llama|vllm) [CLIENT_CPUS]
# Clients are pinned with taskset to CLIENT_CPUS (default 1); start the server on other cores.
set -u
URL=$1; NAME=$2; KIND=$3; CPUS=${4:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
H=${INTEROP_DIR:?set by run_interop.sh}; R=$H/results/$NAME; mkdir -p $R
ACC=${ACCELBENCH:?set by run_interop.sh}
VV=${VENV_VLLM:?}/bin; AV=${VENV_AIPERF:?}/bin
TOK=$H/model/hf
T="taskset -c $CPUS"
if [ "$KIND" = vllm ]; then SK="--server-kind vllm"; PF="--prompt-format tokens"; else SK=""; PF="--prompt-format text --tokenizer $TOK/tokenizer.json"; fi
for api in completions chat; do
  [ "$api" = chat ] && [ "$KIND" = vllm ] && PF2="--prompt-format text --tokenizer $TOK/tokenizer.json" || PF2="$PF"
  rm -rf $R/acc-$api
  $T $ACC run --endpoint $URL --model tiny --spec $HERE/interop-fixed.yaml --count 43 --api $api $SK $PF2 \
     --rate 1000 --max-concurrency 1 --max-lag 100000 --warmup-requests 3 -o $R/acc-$api > $R/acc-$api.log 2>&1
  echo "accelbench $api rc=$?"
done
rm -rf $R/vbench; mkdir -p $R/vbench
$T $VV/python $HERE/vbench.py bench serve --backend openai --base-url $URL --endpoint /v1/completions \
  --model tiny --tokenizer $TOK --dataset-name random --random-input-len 128 --random-output-len 32 \
  --random-range-ratio 0 --num-prompts 40 --max-concurrency 1 --request-rate inf --seed 1 \
  --ignore-eos --num-warmups 3 --save-result --save-detailed --result-dir $R/vbench --result-filename r.json \
  > $R/vbench.log 2>&1
echo "vllm bench rc=$?"
rm -rf $R/aiperf
$T $AV/aiperf profile --model tiny --url $URL --endpoint-type completions --streaming \
  --synthetic-input-tokens-mean 128 --synthetic-input-tokens-stddev 0 --output-tokens-mean 32 \
  --output-tokens-stddev 0 --concurrency 1 --request-count 40 --tokenizer $TOK \
  --extra-inputs ignore_eos:true --use-legacy-max-tokens --random-seed 1 --warmup-request-count 3 --ui-type none \
  --no-gpu-telemetry --no-server-metrics --workers-max 1 --record-processor-service-count 1 \
  --artifact-dir $R/aiperf > $R/aiperf.log 2>&1
echo "aiperf rc=$?"
python3 $HERE/compare.py $R
