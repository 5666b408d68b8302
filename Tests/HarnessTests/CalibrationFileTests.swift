import BenchCore
import Engine
import Foundation
@testable import Harness
import Testing

/// `profile calibrate --from`: the GPU harness's points, read and fitted like the CPU's.
@Suite struct CalibrationFileTests {
    /// Points made from known rates come back as those rates, in the profile's terms.
    @Test func theFitRecoversTheRatesThePointsWereMadeWith() throws {
        let perPair = 2e-12, perContextToken = 3e-9, chunk = 512, batch = 32
        let linear = [1, 16, 128, 512, 2048].map { "{\"tokens\": \($0), \"s\": \(0.004 + 1e-5 * Double($0))}" }
        let prefill = [0, 2048, 6144].map { c in
            "{\"context\": \(c), \"s\": \(0.01 + perPair * Double(chunk) * (Double(c) + Double(chunk + 1) / 2))}"
        }
        let decode = [512, 2048, 8192].map { "{\"context\": \($0), \"s\": \(0.006 + perContextToken * Double(batch * $0))}" }
        let json = """
            {"linear": [\(linear.joined(separator: ","))], "sequences": [{"count": 1, "s": 0.0001}, {"count": 64, "s": 0.002}],
             "prefill_attention": {"chunk_tokens": \(chunk), "points": [\(prefill.joined(separator: ","))]},
             "decode_attention": {"batch": \(batch), "points": [\(decode.joined(separator: ","))]},
             "device": "NVIDIA H200 (sm_90)", "model": "synthetic-llama3-8b", "architecture": "llama3-8b", "block_size": 16, "kv_blocks": 40000}
            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("calibration-\(UUID().uuidString).json").path
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try CalibrationFile.read(path)
        #expect(abs(file.points.secondsPerPair / perPair - 1) < 1e-9)
        #expect(abs(file.points.secondsPerContextToken / perContextToken - 1) < 1e-9)
        let p = try file.profile(base: try HardwareProfile.resolve(HardwareProfile.defaultName), name: "h200-llama3-8b", path: path)
        #expect(p.name == "h200-llama3-8b" && p.gpu == "NVIDIA H200 (sm_90)" && p.kvCapacityBlocks == 40000)
        #expect(p.model.numKVHeads == 8 && p.model.vocabSize == 128_256)
        #expect(zip(p.linearMs, [4.01, 4.16, 5.28, 9.12, 24.48]).allSatisfy { abs($0 - $1) < 1e-9 } && p.linearTokens == [1, 16, 128, 512, 2048])
        #expect(abs(p.memoryBandwidthGBps - p.kvBytesPerTokenPerGPU / perContextToken / 1e9) < 1e-6)
    }

    @Test func aBadFileNamesItsField() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("calibration-bad-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try """
            {"linear": [{"tokens": 1, "s": -1}], "sequences": [{"count": 1, "s": 0}],
             "prefill_attention": {"chunk_tokens": 8, "points": [{"context": 0, "s": 1}]},
             "decode_attention": {"batch": 1, "points": [{"context": 1, "s": 1}]},
             "device": "x", "model": "y", "architecture": "llama3-8b", "block_size": 16}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: BenchError.data(path, field: "linear[0].s", "expected seconds ≥ 0, got -1.0")) { _ = try CalibrationFile.read(path) }
    }
}
