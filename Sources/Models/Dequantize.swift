/// Dequantization of ggml's block formats to Float, row by row. The block layouts are ggml's
/// (checked against gguf-py's dequantizer by Tests/ModelsTests/Fixtures/quant-blocks.gguf).
public enum Dequantize {
    /// Writes `count` values (a multiple of the type's block) decoded from `src` into `dst`.
    public static func row(_ type: GGMLType, _ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        let blocks = count / type.blockValues
        switch type {
        case .f32:
            for i in 0..<count { dst[i] = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        case .f16:
            for i in 0..<count { dst[i] = half(src, 2 * i) }
        case .bf16:
            for i in 0..<count {
                dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        case .q8_0:
            for b in 0..<blocks { q8_0(src + b * 34, dst + b * 32) }
        case .q4_0:
            for b in 0..<blocks { q4_0(src + b * 18, dst + b * 32) }
        case .q4_1:
            for b in 0..<blocks { q4_1(src + b * 20, dst + b * 32) }
        case .q4_K:
            for b in 0..<blocks { q4_K(src + b * 144, dst + b * 256) }
        case .q6_K:
            for b in 0..<blocks { q6_K(src + b * 210, dst + b * 256) }
        }
    }

    /// A whole tensor as Float (row-major in ggml's order: `shape[0]` contiguous).
    public static func tensor(_ info: GGUFTensorInfo, bytes: UnsafeRawBufferPointer) -> [Float] {
        [Float](unsafeUninitializedCapacity: info.elementCount) { buf, n in
            let rowValues = info.shape[0]
            let rowBytes = rowValues / info.type.blockValues * info.type.blockBytes
            for r in 0..<info.rows {
                row(info.type, bytes.baseAddress! + r * rowBytes, count: rowValues, into: buf.baseAddress! + r * rowValues)
            }
            n = info.elementCount
        }
    }

    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always)
    static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 { p.load(fromByteOffset: offset, as: UInt8.self) }

    /// f16 scale, then 32 signed bytes.
    static func q8_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<32 { y[j] = d * Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) }
    }

    /// f16 scale, then 16 bytes: low nibbles are values 0–15, high nibbles 16–31, offset by 8.
    static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<16 {
            let q = byte(p, 2 + j)
            y[j] = d * Float(Int(q & 0xF) - 8)
            y[j + 16] = d * Float(Int(q >> 4) - 8)
        }
    }

    /// f16 scale and f16 minimum, then 16 bytes of nibbles as in Q4_0 (unsigned).
    static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        for j in 0..<16 {
            let q = byte(p, 4 + j)
            y[j] = d * Float(q & 0xF) + m
            y[j + 16] = d * Float(q >> 4) + m
        }
    }

    /// Super-block of 256: f16 d and dmin, 12 bytes of eight 6-bit scales and mins, 128 bytes of
    /// nibbles (each 32-value group's low then high nibbles of the same 32 bytes).
    static func q4_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        let sc = p + 4, qs = p + 16
        func scaleMin(_ j: Int) -> (Float, Float) {
            if j < 4 { return (Float(byte(sc, j) & 63), Float(byte(sc, j + 4) & 63)) }
            let s = (byte(sc, j + 4) & 0xF) | ((byte(sc, j - 4) >> 6) << 4)
            let m = (byte(sc, j + 4) >> 4) | ((byte(sc, j) >> 6) << 4)
            return (Float(s), Float(m))
        }
        for g in 0..<4 {
            let (s1, m1) = scaleMin(2 * g), (s2, m2) = scaleMin(2 * g + 1)
            let d1 = d * s1, mm1 = dmin * m1, d2 = d * s2, mm2 = dmin * m2
            for l in 0..<32 {
                let q = byte(qs, 32 * g + l)
                y[64 * g + l] = d1 * Float(q & 0xF) - mm1
                y[64 * g + 32 + l] = d2 * Float(q >> 4) - mm2
            }
        }
    }

    /// Super-block of 256: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 signed
    /// 8-bit scales (one per 16 values), f16 d. Values are 6-bit, offset by 32.
    static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 208)
        for half128 in 0..<2 {
            let ql = p + 64 * half128, qh = p + 128 + 32 * half128
            let sc = p + 192 + 8 * half128
            let out = y + 128 * half128
            for l in 0..<32 {
                let s = l / 16
                let h = byte(qh, l)
                let lo0 = byte(ql, l), lo1 = byte(ql, l + 32)
                let q1 = Int((lo0 & 0xF) | ((h & 3) << 4)) - 32
                let q2 = Int((lo1 & 0xF) | (((h >> 2) & 3) << 4)) - 32
                let q3 = Int((lo0 >> 4) | (((h >> 4) & 3) << 4)) - 32
                let q4 = Int((lo1 >> 4) | (((h >> 6) & 3) << 4)) - 32
                out[l] = d * Float(sc.load(fromByteOffset: s, as: Int8.self)) * Float(q1)
                out[l + 32] = d * Float(sc.load(fromByteOffset: s + 2, as: Int8.self)) * Float(q2)
                out[l + 64] = d * Float(sc.load(fromByteOffset: s + 4, as: Int8.self)) * Float(q3)
                out[l + 96] = d * Float(sc.load(fromByteOffset: s + 6, as: Int8.self)) * Float(q4)
            }
        }
    }
}
