#!/usr/bin/env bash
# Builds the CUDA backend library from cuda/: OUT/libaccelbench_cuda.so (default OUT: .build/cuda).
#   scripts/cuda/build.sh CUDA_ROOT [OUT]
# CUDA_ROOT holds bin/nvcc and include/ (PyPI's nvidia/cu13 folder, or /usr/local/cuda); cuBLAS
# (libcublas.so.13) is looked for in CUDA_ROOT/lib, CUDA_ROOT/lib64, then $CUBLAS_DIR. The CUDA
# runtime is linked statically; cuBLAS is found at run time through the RUNPATH recorded here.
# ARCHS (default "80 90"): machine code for each, plus PTX for the last.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${1:?usage: scripts/cuda/build.sh CUDA_ROOT [OUT]}
out=${2:-.build/cuda}
archs=${ARCHS:-80 90}
nvcc=$root/bin/nvcc
[ -x "$nvcc" ] || { echo "build.sh: no nvcc at $nvcc" >&2; exit 1; }
cublas=""
for d in "$root/lib" "$root/lib64" "${CUBLAS_DIR:-}"; do
    if [ -n "$d" ] && [ -e "$d/libcublas.so.13" ]; then cublas=$(cd "$d" && pwd); break; fi
done
[ -n "$cublas" ] || { echo "build.sh: libcublas.so.13 not found under $root/lib, $root/lib64 or \$CUBLAS_DIR" >&2; exit 1; }
gencode=()
last=""
for a in $archs; do gencode+=(-gencode "arch=compute_$a,code=sm_$a"); last=$a; done
gencode+=(-gencode "arch=compute_$last,code=compute_$last")
mkdir -p "$out"
# Compile into a temporary name and rename: a reader never sees half a library.
"$nvcc" -O3 -std=c++17 -Xcompiler -fPIC -shared "${gencode[@]}" -cudart static \
    -I"$root/include" -Icuda -L"$cublas" -l:libcublas.so.13 -Xlinker -rpath -Xlinker "$cublas" \
    -o "$out/libaccelbench_cuda.so.partial" cuda/accelbench_cuda.cu
mv "$out/libaccelbench_cuda.so.partial" "$out/libaccelbench_cuda.so"
echo "built $out/libaccelbench_cuda.so ($("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/CUDA \1/p'), sm: $archs, cuBLAS from $cublas)"
