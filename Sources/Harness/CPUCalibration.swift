import BenchCore
import Engine
import EngineCPU
import Foundation
import Models

/// `profile calibrate --engine cpu`: measures the CPU backend's iteration times and writes a
/// profile the simulated backend reads, so a workload can be simulated as this machine runs it.
///
/// The simulated time model is `linear(tokens) + attention + perSequence(sequences) + overhead`
/// (`IterationTimeModel`). Each term is measured on its own:
/// - **linear**: T sequences of one token at position 0 in one pass (attention is negligible),
///   no logits; the table is the median per T;
/// - **per sequence**: R such sequences with logits (and a greedy pick) minus the same without,
///   as the median of back-to-back pairs:
///   the LM head rows, which a decode batch computes for every sequence and a prefill chunk for
///   its last token only;
/// - **prefill attention**: a chunk of `chunkTokens` tokens at growing cached contexts; the time
///   grows with the causal query-key pairs, and the slope is the seconds per pair, written as
///   `peak_tflops` with an attention efficiency of 1;
/// - **decode attention**: `decodeBatch` decodes at growing contexts; the slope per context token
///   is written as `memory_bandwidth_gbps` over the profile's KV bytes per token.
/// The fixed per-iteration cost is in the linear table; `overhead_ms` is 0.
public struct CPUCalibration {
    public var model: LoadedModel
    public var threads: Int
    /// Timed passes per point (medians). 5: our choice; this VM's speed drifts within seconds.
    public var repetitions = 5
    public var linearTokens = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
    public var sequenceCounts = [1, 2, 4, 8, 16, 32, 64]
    public var chunkTokens = 128
    public var prefillContexts = [0, 512, 1536]
    public var decodeBatch = 8
    public var decodeContexts = [128, 1024, 2048]

    public init(model: LoadedModel, threads: Int) {
        self.model = model
        self.threads = threads
    }

    public struct Result {
        public var profile: HardwareProfile
        public var secondsPerPair: Double
        public var secondsPerContextToken: Double
        /// Realistic iterations measured right after the calibration, beside the written
        /// profile's prediction for them: the model checked on shapes it was not fitted on,
        /// minutes before any run can drift away from it.
        public var checks: [Check]
    }

    public struct Check {
        public var name: String
        public var measuredS: Double
        public var predictedS: Double
    }

    /// The check iterations: (name, prefill chunk (tokens, cached context) or nil, decodes
    /// (count, context)).
    public static let checkShapes: [(String, (Int, Int)?, (Int, Int)?)] = [
        ("prefill 256", (256, 0), nil),
        ("prefill 480 at context 32", (480, 32), nil),
        ("prefill 128 at context 512 + 8 decodes at 300", (128, 512), (8, 300)),
        ("2 decodes at 300", nil, (2, 300)),
        ("6 decodes at 600", nil, (6, 600)),
        ("24 decodes at 200", nil, (24, 200)),
    ]

    /// Measures and returns `base` (block size, KV capacity) with the measured timings.
    public func run(base: HardwareProfile) throws(BenchError) -> Result {
        LlamaCPU.setThreads(threads)
        let bench = Bench(self)
        let points = CalibrationPoints(
            linear: linearTokens.map { ($0, bench.time(bench.singles($0, logits: false))) },
            sequences: sequenceCounts.map { r in (r, bench.timeDifference(bench.singles(r, logits: false), bench.singles(r, logits: true))) },
            chunkTokens: chunkTokens, prefill: bench.prefillPoints(), decodeBatch: decodeBatch, decode: bench.decodePoints())
        let p = try points.fit(base: base, source: "accelbench profile calibrate --engine cpu: \(model.name), \(threads) threads, medians of \(repetitions) (\(ISO8601DateFormatter().string(from: Date())))")
        let perPair = points.secondsPerPair, perContextToken = points.secondsPerContextToken
        let model = IterationTimeModel(profile: p)
        let checks = Self.checkShapes.map { name, prefill, decodes in
            let (measured, load) = bench.check(prefill: prefill, decodes: decodes)
            return Check(name: name, measuredS: measured, predictedS: model.seconds(load))
        }
        return Result(profile: p, secondsPerPair: perPair, secondsPerContextToken: perContextToken, checks: checks)
    }

    /// The model over a KV pool big enough for every measurement, and the timed passes.
    struct Bench {
        let settings: CPUCalibration
        let cpu: LlamaCPU
        let perSequence: Int
        let vocab: Int

        init(_ s: CPUCalibration) {
            settings = s
            let c = s.model.weights.config
            let checkLongest = CPUCalibration.checkShapes.map { max(($0.1.map { $0.0 + $0.1 }) ?? 0, ($0.2.map { $0.1 + 1 }) ?? 0) }.max() ?? 0
            let checkSequences = CPUCalibration.checkShapes.map { 1 + ($0.2?.0 ?? 0) }.max() ?? 0
            let longest = max(s.linearTokens.max() ?? 1, s.chunkTokens + (s.prefillContexts.max() ?? 0), (s.decodeContexts.max() ?? 0) + 1,
                              checkLongest)
            perSequence = (longest + 15) / 16
            let sequences = max(s.linearTokens.max() ?? 1, s.sequenceCounts.max() ?? 1, s.decodeBatch, checkSequences)
            vocab = c.vocabSize
            cpu = LlamaCPU(weights: s.model.weights, cache: PagedKVCache(numBlocks: perSequence * sequences, blockSize: 16,
                                                                         numLayers: c.numLayers, numKVHeads: c.numKVHeads, headDim: c.headDim))
        }

        func blocks(_ s: Int) -> [Int32] { (0..<perSequence).map { Int32(s * perSequence + $0) } }
        func tokens(_ n: Int, _ s: Int) -> [Int32] { (0..<n).map { Int32(100 + (7 * $0 + 13 * s) % (vocab - 100)) } }

        /// `n` sequences of one token each at position 0.
        func singles(_ n: Int, logits: Bool) -> [SequenceChunk] {
            (0..<n).map { SequenceChunk(tokens: tokens(1, $0), startPosition: 0, blocks: blocks($0), wantsLogits: logits) }
        }

        /// Median seconds of a forward pass over `chunks` plus a greedy pick per logits row, after
        /// one warm-up pass.
        func time(_ chunks: [SequenceChunk]) -> Double {
            func pass() { for row in cpu.forward(chunks) { _ = Sampler.argmax(row) } }
            pass()
            var times = (0..<max(1, settings.repetitions)).map { _ in
                let t0 = monotonicSeconds()
                pass()
                return monotonicSeconds() - t0
            }
            times.sort()
            return times[times.count / 2]
        }

        /// Median over `repetitions` pairs of (time of `b` − time of `a`), each pair run back to
        /// back after a warm-up of both: the difference of two separately taken medians is noisy
        /// on a machine whose speed drifts, and a small term (one LM head row) drowns in it.
        func timeDifference(_ a: [SequenceChunk], _ b: [SequenceChunk]) -> Double {
            func pass(_ chunks: [SequenceChunk]) -> Double {
                let t0 = monotonicSeconds()
                for row in cpu.forward(chunks) { _ = Sampler.argmax(row) }
                return monotonicSeconds() - t0
            }
            _ = pass(a)
            _ = pass(b)
            var differences = (0..<max(1, settings.repetitions)).map { _ in -pass(a) + pass(b) }
            differences.sort()
            return differences[differences.count / 2]
        }

        /// One iteration of a prefill chunk (tokens, cached context; sequence 0) and decodes
        /// (count, context; sequences 1…), timed like the table points, with its load.
        func check(prefill: (Int, Int)?, decodes: (Int, Int)?) -> (seconds: Double, load: IterationLoad) {
            var chunks: [SequenceChunk] = []
            var load = IterationLoad()
            if let (n, ctx) = prefill {
                if ctx > 0 { _ = cpu.forward([SequenceChunk(tokens: tokens(ctx, 0), startPosition: 0, blocks: blocks(0), wantsLogits: false)]) }
                chunks.append(SequenceChunk(tokens: tokens(n, 0), startPosition: ctx, blocks: blocks(0), wantsLogits: true))
                load.addPrefill(newTokens: n, contextTokens: ctx)
            }
            if let (count, ctx) = decodes {
                for s in 1...count {
                    _ = cpu.forward([SequenceChunk(tokens: tokens(ctx, s), startPosition: 0, blocks: blocks(s), wantsLogits: false)])
                    chunks.append(SequenceChunk(tokens: tokens(1, s + 7), startPosition: ctx, blocks: blocks(s), wantsLogits: true))
                    load.addDecode(contextTokens: ctx)
                }
            }
            return (time(chunks), load)
        }

        /// Prefill attention: the same chunk after growing cached contexts.
        func prefillPoints() -> [(context: Int, seconds: Double)] {
            settings.prefillContexts.map { ctx in
                if ctx > 0 { _ = cpu.forward([SequenceChunk(tokens: tokens(ctx, 0), startPosition: 0, blocks: blocks(0), wantsLogits: false)]) }
                return (ctx, time([SequenceChunk(tokens: tokens(settings.chunkTokens, 1), startPosition: ctx, blocks: blocks(0), wantsLogits: true)]))
            }
        }

        /// Decode attention: a batch of decodes after growing contexts.
        func decodePoints() -> [(context: Int, seconds: Double)] {
            let batch = settings.decodeBatch
            var points: [(context: Int, seconds: Double)] = []
            for ctx in settings.decodeContexts {
                for s in 0..<batch {
                    _ = cpu.forward([SequenceChunk(tokens: tokens(ctx, s), startPosition: 0, blocks: blocks(s), wantsLogits: false)])
                }
                points.append((ctx, time((0..<batch).map {
                    SequenceChunk(tokens: tokens(1, $0 + 7), startPosition: ctx, blocks: blocks($0), wantsLogits: true)
                })))
            }
            return points
        }
    }

    /// Least-squares slope of y on x.
    static func slope(x: [Double], y: [Double]) -> Double {
        let n = Double(x.count), mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        let sxy = zip(x, y).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }, sxx = x.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        return sxx > 0 ? sxy / sxx : 0
    }
}
