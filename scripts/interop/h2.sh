#!/usr/bin/env bash
# HTTP/2 check: accelbench --http2 against Hypercorn serving h2_server.py, once over TLS (ALPN h2,
# a self-signed certificate checked with --cacert) and once over cleartext with prior knowledge
# (h2c, through nghttp2's nghttpx proxy in front of Hypercorn over HTTP/1.1: Hypercorn's own h2c
# fails a few prior-knowledge connections). Passes when every request succeeds and accelbench
# reports HTTP/2 for all of them. With
# libcurl < 7.89 (Debian 12: 7.88.1) each h2c request gets its own connection: reusing one breaks
# there (curl issue #10634), for curl's own CLI too.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
H=${INTEROP_DIR:-$REPO/.interop}
ACC=${ACCELBENCH:-$REPO/.build/release/accelbench}
V=$H/venv-h2
R=$H/results/h2; mkdir -p "$R"
command -v nghttpx >/dev/null || { apt-get install -y -q nghttp2-proxy >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q nghttp2-proxy >/dev/null; }; }
[ -x "$V/bin/hypercorn" ] || { python3 -m venv "$V"; "$V/bin/pip" install -q hypercorn; }
[ -f "$R/cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -keyout "$R/key.pem" -out "$R/cert.pem" -days 30 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
PIDS=()
trap 'kill ${PIDS[@]} 2>/dev/null; wait ${PIDS[@]} 2>/dev/null || true' EXIT
cd "$HERE"
"$V/bin/hypercorn" --bind 127.0.0.1:8443 --certfile "$R/cert.pem" --keyfile "$R/key.pem" h2_server:app > "$R/tls.log" 2>&1 & PIDS+=($!)
"$V/bin/hypercorn" --bind 127.0.0.1:8481 h2_server:app > "$R/h1.log" 2>&1 & PIDS+=($!)
nghttpx --frontend='127.0.0.1,8480;no-tls' --backend='127.0.0.1,8481' --workers=1 --no-ocsp --conf=/dev/null > "$R/nghttpx.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do curl -sfk https://127.0.0.1:8443/health >/dev/null && curl -sf http://127.0.0.1:8480/health >/dev/null && break; sleep 0.1; done
status=0
for u in "https://127.0.0.1:8443 --cacert $R/cert.pem" "http://127.0.0.1:8480"; do
  set -- $u
  out=$("$ACC" run --endpoint "$@" --model h2 --http2 --spec "$REPO/workloads/smoke.yaml" --rate 50 --max-lag 1000 -o "$R/run-${1%%:*}" 2>&1) || true
  line=$(grep '^protocol:' <<<"$out" || echo "protocol: none")
  ok=$(python3 -c "import json,sys;s=json.load(open('$R/run-${1%%:*}/summary.json'));print(s['requests']['completed'],s['requests']['total'])" 2>/dev/null || echo "0 ?")
  echo "$1: $line; completed/total $ok"
  set -- $ok
  [[ $line == "protocol: HTTP/2 $2" && $1 == "$2" ]] || status=1
done
exit $status
