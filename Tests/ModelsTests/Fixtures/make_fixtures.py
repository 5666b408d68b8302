"""Writes quant-blocks.gguf: one tensor per ggml type the reader supports, each followed by an
F32 tensor '<name>.expected' holding gguf-py's own dequantization of it, so the Swift
dequantizer is checked against an implementation we did not write.

Run with gguf-py (pip install gguf numpy):  python make_fixtures.py
"""
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

rng = np.random.default_rng(1234)
w = gguf.GGUFWriter("quant-blocks.gguf", arch="llama")
w.add_string("general.name", "dequantization fixture")
rows, cols = 3, 512

def add(name, qtype, raw, shape):
    w.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=qtype)
    w.add_tensor(name + ".expected", dequantize(raw, qtype).astype(np.float32).reshape(shape))

values = (rng.standard_normal((rows, cols)) * 0.5).astype(np.float32)
w.add_tensor("f32", values)
w.add_tensor("f32.expected", values)
for name, qtype in [("f16", T.F16), ("bf16", T.BF16), ("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1)]:
    add(name, qtype, quantize(values, qtype), (rows, cols))

# K-quants: gguf-py dequantizes them but does not quantize, so the blocks are random bytes with
# finite f16 scales where the layout puts them.
def random_blocks(qtype, scale_offsets):
    block_values, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    n = rows * cols // block_values
    raw = rng.integers(0, 256, size=(n, block_bytes), dtype=np.uint8)
    for off in scale_offsets:
        raw[:, off:off + 2] = np.frombuffer(
            (rng.uniform(0.001, 0.05, size=n).astype(np.float16)).tobytes(), dtype=np.uint8).reshape(n, 2)
    return raw.reshape(rows, cols // block_values * block_bytes)

add("q4_k", T.Q4_K, random_blocks(T.Q4_K, [0, 2]), (rows, cols))
add("q6_k", T.Q6_K, random_blocks(T.Q6_K, [208]), (rows, cols))

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print("wrote quant-blocks.gguf")
