import BenchCore
import CKernels
import Foundation
import Models
import Testing

/// The C kernels over ggml blocks equal a plain product with the dequantized weights (gguf-py's
/// fixture tensors), for every row count the engine uses: one (decode at batch 1), the tiled
/// path, and more rows than one slice holds.
struct QuantizedKernelTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ModelsTests/Fixtures/quant-blocks.gguf").path

    @Test(arguments: ["q4_0", "q4_1", "q8_0"])
    func kernelEqualsDequantizedProduct(name: String) throws {
        let f = try GGUFFile(path: Self.fixture)
        let t = try #require(f.tensor(name))
        let rows = t.rows, cols = t.shape[0]
        let w = Dequantize.tensor(t, bytes: f.bytes(of: t))
        let raw = Array(f.bytes(of: t))
        var rng = SeededRNG(seed: 3)
        for m in [1, 3, 8, 33, 70] {
            let x = (0..<(m * cols)).map { _ in Float(rng.uniform(-1, 1)) }
            var y = [Float](repeating: 0.5, count: m * rows)
            for accumulate in [false, true] {
                let before = y
                let status = raw.withUnsafeBytes { rp in
                    ab_quant_gemm(Int32(t.type.rawValue), rp.baseAddress!, Int32(cols), 0, Int32(rows), x, Int32(m), &y, Int32(rows),
                                  accumulate ? 1 : 0)
                }
                #expect(status == 0)
                for i in 0..<m {
                    for r in 0..<rows {
                        var s: Double = 0
                        for k in 0..<cols { s += Double(x[i * cols + k]) * Double(w[r * cols + k]) }
                        let want = (accumulate ? Double(before[i * rows + r]) : 0) + s
                        #expect(abs(Double(y[i * rows + r]) - want) < 1e-4 * max(1, abs(want)), "\(name) m=\(m) row \(i),\(r)")
                    }
                }
            }
        }
        #expect(ab_quant_gemm(12, raw, Int32(cols), 0, 1, [Float](repeating: 0, count: cols), 1, nil, 1, 0) == -1)
    }
}
