import BenchCore
import Engine
import Foundation
import Models

/// The measurements a calibrated profile is fitted on (`CPUCalibration` describes each term):
/// taken here by `profile calibrate --engine cpu`, or read from a file that another machine's
/// harness wrote (`profile calibrate --from`, the GPU harness's `calibration.json`).
public struct CalibrationPoints: Sendable, Equatable {
    /// Linear term: seconds of T one-token sequences at position 0, no logits.
    public var linear: [(tokens: Int, seconds: Double)]
    /// Per-sequence term: seconds R sequences with logits take over the same without.
    public var sequences: [(count: Int, seconds: Double)]
    /// Prefill attention: one chunk of `chunkTokens` after each cached context.
    public var chunkTokens: Int
    public var prefill: [(context: Int, seconds: Double)]
    /// Decode attention: `decodeBatch` decodes at each context.
    public var decodeBatch: Int
    public var decode: [(context: Int, seconds: Double)]

    public static func == (a: CalibrationPoints, b: CalibrationPoints) -> Bool {
        a.linear.elementsEqual(b.linear) { $0 == $1 } && a.sequences.elementsEqual(b.sequences) { $0 == $1 }
            && a.chunkTokens == b.chunkTokens && a.prefill.elementsEqual(b.prefill) { $0 == $1 }
            && a.decodeBatch == b.decodeBatch && a.decode.elementsEqual(b.decode) { $0 == $1 }
    }

    /// Seconds per causal query-key pair of prefill attention (least-squares slope).
    public var secondsPerPair: Double {
        let n = Double(chunkTokens)
        return max(1e-15, CPUCalibration.slope(x: prefill.map { n * (Double($0.context) + (n + 1) / 2) }, y: prefill.map(\.seconds)))
    }

    /// Seconds per context token a decode reads (least-squares slope over the batch's contexts).
    public var secondsPerContextToken: Double {
        max(1e-15, CPUCalibration.slope(x: decode.map { Double(decodeBatch * $0.context) }, y: decode.map(\.seconds)))
    }

    /// `base` with these timings: the linear and per-sequence tables, the attention rates as
    /// `peak_tflops` (efficiency 1) and `memory_bandwidth_gbps`, the pivot.
    public func fit(base: HardwareProfile, source: String) throws(BenchError) -> HardwareProfile {
        var p = base
        p.linearTokens = linear.map(\.tokens)
        p.linearMs = linear.map { $0.seconds * 1000 }
        p.sequenceCounts = sequences.map(\.count)
        p.sequenceMs = sequences.map { max(0, $0.seconds) * 1000 }
        let m = p.model
        p.attentionEfficiency = 1
        p.peakTFLOPs = 4 * Double(m.headDim) * Double(m.numHeads) * Double(m.numLayers) / secondsPerPair / 1e12
        p.memoryBandwidthGBps = p.kvBytesPerTokenPerGPU / secondsPerContextToken / 1e9
        p.overheadMs = 0
        p.allReduceBytes = []
        p.allReduceMs = []
        p.source = source
        try ProfileBuilder.setPivot(&p, fraction: ProfileBuilder.Options().pivotThroughputFraction)
        try p.validate(file: "calibrated profile")
        return p
    }
}

/// `calibration.json` as `scripts/gpu/harness.py` writes it: the points, and where they were taken.
public struct CalibrationFile: Sendable {
    public var points: CalibrationPoints
    public var device: String
    public var model: String
    /// A `--synthetic-weights` architecture name (its shapes go into the profile).
    public var architecture: String
    public var blockSize: Int
    /// The KV pool the harness had, blocks; nil keeps the base profile's capacity.
    public var kvBlocks: Int?

    public static func read(_ path: String) throws(BenchError) -> CalibrationFile {
        let text = String(decoding: try FileIO.readFile(path), as: UTF8.self)
        let value: JSONValue
        do { value = try JSONParser.parse(text) } catch { throw BenchError.data(path, "\(error)") }
        var f = try JSONFields(value, file: path, line: nil)
        func pairs(_ key: String, in fields: inout JSONFields, _ x: String) throws(BenchError) -> [(Int, Double)] {
            guard case .array(let items)? = fields.raw(key), !items.isEmpty else { throw fields.error(key, "expected a non-empty array") }
            var out: [(Int, Double)] = []
            for (i, item) in items.enumerated() {
                var p = try JSONFields(item, file: path, line: nil, prefix: "\(fields.path(key))[\(i)]")
                let s = try p.double("s")
                guard s.isFinite, s >= 0 else { throw p.error("s", "expected seconds ≥ 0, got \(s)") }
                out.append((try p.int(x), s))
                try p.finish()
            }
            return out
        }
        func series(_ key: String, _ count: String) throws(BenchError) -> (Int, [(Int, Double)]) {
            guard var o = try f.optionalObject(key) else { throw f.error(key, "missing required object") }
            let n = try o.int(count)
            guard n > 0 else { throw o.error(count, "expected a positive integer") }
            let points = try pairs("points", in: &o, "context")
            try o.finish()
            return (n, points)
        }
        let linear = try pairs("linear", in: &f, "tokens"), sequences = try pairs("sequences", in: &f, "count")
        let (chunk, prefill) = try series("prefill_attention", "chunk_tokens"), (batch, decode) = try series("decode_attention", "batch")
        let points = CalibrationPoints(linear: linear.map { ($0.0, $0.1) }, sequences: sequences.map { ($0.0, $0.1) }, chunkTokens: chunk,
                                       prefill: prefill.map { ($0.0, $0.1) }, decodeBatch: batch, decode: decode.map { ($0.0, $0.1) })
        let architecture = try f.string("architecture")
        guard LlamaConfig.known[architecture] != nil else { throw f.error("architecture", "unknown architecture '\(architecture)'") }
        let file = CalibrationFile(points: points, device: try f.string("device"), model: try f.string("model"), architecture: architecture,
                                   blockSize: try f.int("block_size"), kvBlocks: try f.optionalInt("kv_blocks"))
        try f.finish()
        return file
    }

    /// The profile: `base` with the architecture's shapes, this device and block size, fitted.
    public func profile(base: HardwareProfile, name: String, path: String) throws(BenchError) -> HardwareProfile {
        let c = LlamaConfig.known[architecture]!
        var p = base
        p.name = name
        p.gpu = device
        p.setRealModel(c, name: architecture)
        p.blockSizeTokens = blockSize
        if let kvBlocks { p.kvCapacityBlocks = kvBlocks }
        return try points.fit(base: p, source: "accelbench profile calibrate --from \((path as NSString).lastPathComponent): \(model) on \(device)")
    }
}
