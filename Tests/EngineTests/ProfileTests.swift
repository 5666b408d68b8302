import BenchCore
import Foundation
import Testing

@testable import Engine

// Hardware profiles, the profile builder and the iteration-time model. These tests read only the
// shipped profiles and fixtures they write themselves, never ../shared.

private let expectedBuiltins = [
    "a100-llama2-70b-tp4", "a100-llama2-70b-tp8", "a100-llama2-7b", "a100-llama3-70b-tp4", "a100-llama3-70b-tp8",
    "a100-llama3-8b", "a100-llama3.1-70b-tp4", "a100-llama3.1-70b-tp8", "a100-llama3.1-8b",
    "h100-llama2-70b-tp4", "h100-llama2-70b-tp8", "h100-llama2-7b",
    "h100-llama3.1-70b-tp4", "h100-llama3.1-70b-tp8", "h100-llama3.1-8b",
]

private func ms(_ s: Double) -> String { String((s * 1000 * 100).rounded() / 100) + " ms" }

private func decodeLoad(batch: Int, context: Int) -> IterationLoad {
    var l = IterationLoad()
    for _ in 0..<batch { l.addDecode(contextTokens: context) }
    return l
}

private func prefillLoad(tokens: Int, context: Int = 0) -> IterationLoad {
    var l = IterationLoad()
    l.addPrefill(newTokens: tokens, contextTokens: context)
    return l
}

private func makeTempDir() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("accelbench-profile-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

private func write(_ text: String, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// Expects a `BenchError.data` naming `file` and (when given) `field`.
private func expectDataError(file: String, field: String?, _ body: () throws(BenchError) -> Void,
                             sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected a data error for field \(field ?? "-")", sourceLocation: sourceLocation)
    } catch {
        guard case .data(let loc, let msg) = error else {
            Issue.record("expected a data error, got \(error)", sourceLocation: sourceLocation)
            return
        }
        #expect(loc.file == file, sourceLocation: sourceLocation)
        if let field { #expect(loc.field == field, "message: \(msg)", sourceLocation: sourceLocation) }
        #expect(error.description.contains(file), sourceLocation: sourceLocation)
    }
}

// MARK: Vidur-layout fixtures

private let statNames = ["min", "max", "mean", "median", "std"]
private let mlpOps = ["emb"] + ProfileBuilder.layerOperators

private func mlpHeader() -> String {
    var cols: [String] = []
    for op in mlpOps { for s in statNames { cols.append("time_stats.\(op).\(s)") } }
    cols += ["n_head", "n_kv_head", "n_embd", "n_expanded_embd", "vocab_size", "use_gated_mlp", "num_tokens", "num_tensor_parallel_workers"]
    return cols.joined(separator: ",")
}

/// One mlp.csv row for Llama-2-7B's shape: `medians[op]` for each operator, other stats derived.
private func mlpRow(tokens: Int, tp: Int, medians: [String: Double], nHead: Int = 32) -> String {
    var fields: [String] = []
    for op in mlpOps {
        let m = medians[op]!
        fields += ["\(m * 0.9)", "\(m * 1.2)", "\(m * 1.01)", "\(m)", "0.001"]
    }
    fields += ["\(nHead)", "32", "4096", "11008", "32768", "True", "\(tokens)", "\(tp)"]
    return fields.joined(separator: ",")
}

private func fixtureMedians(_ seed: Double) -> [String: Double] {
    var d: [String: Double] = [:]
    for (i, op) in mlpOps.enumerated() { d[op] = 0.013 * seed + 0.0071 * Double(i + 1) + 0.001 * seed * Double(i) }
    return d
}

/// Σ medians in `layerOperators` order × layers + emb: the builder's definition, same arithmetic.
private func expectedLinear(_ m: [String: Double], layers: Int) -> Double {
    var perLayer = 0.0
    for op in ProfileBuilder.layerOperators { perLayer += m[op]! }
    return perLayer * Double(layers) + m["emb"]!
}

@Suite("Hardware profiles and the iteration-time model")
struct ProfileTests {
    // MARK: shipped profiles

    @Test func builtinNamesAreSortedAndComplete() {
        let names = HardwareProfile.builtinNames
        #expect(names == names.sorted())
        #expect(names.contains(HardwareProfile.defaultName))
        #expect(names == expectedBuiltins)
    }

    @Test(arguments: expectedBuiltins)
    func everyBuiltinLoadsAndValidates(name: String) throws {
        let p = try HardwareProfile.builtin(name)
        #expect(p.name == name)
        try p.validate(file: name)
        #expect(p.linearTokens.count == p.linearMs.count)
        #expect(p.tensorParallel == 1 ? p.allReduceBytes.isEmpty : !p.allReduceBytes.isEmpty)
        #expect(p.blockSizeTokens == 32)
        #expect(p.kvCapacityBlocks > 1000)
        #expect(p.model.parameterCount == ModelShape.llamaParameterCount(
            numLayers: p.model.numLayers, hiddenSize: p.model.hiddenSize, numHeads: p.model.numHeads,
            numKVHeads: p.model.numKVHeads, intermediateSize: p.model.intermediateSize, vocabSize: p.model.vocabSize))
        #expect(p.source.contains("Copyright (c) Microsoft Corporation"))
        #expect(p.maxTokensPerRequest == p.model.maxContextTokens)
        let r = try HardwareProfile.resolve(name)
        #expect(r == p)
    }

    @Test(arguments: expectedBuiltins)
    func jsonStringIsByteIdenticalToShippedFile(name: String) throws {
        let path = try #require(HardwareProfile.builtinPath(name))
        let shipped = String(decoding: try FileIO.readFile(path), as: UTF8.self)
        let p = try HardwareProfile.load(path: path)
        #expect(p.jsonString() == shipped)
        // The writer's output reads back to the same profile.
        #expect(try HardwareProfile.parse(p.jsonString(), file: path) == p)
    }

    @Test func unknownNameListsValidNames() {
        for viaResolve in [false, true] {
            do {
                if viaResolve {
                    _ = try HardwareProfile.resolve("h100-llama9")
                } else {
                    _ = try HardwareProfile.builtin("h100-llama9")
                }
                Issue.record("expected an error")
            } catch {
                guard case .usage(let msg) = error else { Issue.record("expected usage error, got \(error)"); continue }
                #expect(msg.contains("h100-llama9"))
                for n in expectedBuiltins { #expect(msg.contains(n)) }
            }
        }
    }

    @Test func resolveAcceptsAPath() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var p = try HardwareProfile.builtin(HardwareProfile.defaultName)
        p.name = "my-gpu"
        p.overheadMs = 3
        let path = dir + "/my-gpu.json"
        try write(p.jsonString(), to: path)
        #expect(try HardwareProfile.resolve(path) == p)
        #expect(try HardwareProfile.load(path: path) == p)
        // A missing file is an I/O error naming it.
        do {
            _ = try HardwareProfile.resolve(dir + "/missing.json")
            Issue.record("expected an error")
        } catch {
            guard case .io(let file, _) = error else { Issue.record("expected io error, got \(error)"); return }
            #expect(file == dir + "/missing.json")
        }
    }

    @Test func loadRejectsMalformedJSON() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.json"
        try write("{\"name\": \"x\",", to: path)
        expectDataError(file: path, field: nil) { () throws(BenchError) in _ = try HardwareProfile.load(path: path) }
        try write("[1, 2]", to: path)
        expectDataError(file: path, field: nil) { () throws(BenchError) in _ = try HardwareProfile.load(path: path) }
    }

    /// (JSON key path to change, replacement value as JSON, field the error must name)
    static let badFields: [(String, String, String)] = [
        ("kv_capacity_blocks", "-5", "kv_capacity_blocks"),
        ("block_size_tokens", "0", "block_size_tokens"),
        ("tensor_parallel", "1.5", "tensor_parallel"),
        ("gpu_memory_gib", "\"eighty\"", "gpu_memory_gib"),
        ("attention_efficiency", "1.5", "attention_efficiency"),
        ("memory_bandwidth_gbps", "0", "memory_bandwidth_gbps"),
        ("overhead_ms", "-1", "overhead_ms"),
        ("pivot_tokens", "0", "pivot_tokens"),
        ("linear_tokens", "[1, 8, 4]", "linear_tokens[2]"),
        ("linear_ms", "[1, 2]", "linear_ms"),
        ("linear_ms", "\"fast\"", "linear_ms"),
        ("model.num_layers", "0", "model.num_layers"),
        ("model.num_heads", "\"32\"", "model.num_heads"),
        ("model.num_kv_heads", "5", "model.num_kv_heads"),
        ("model.colour", "1", "model.colour"),
        ("bogus_key", "1", "bogus_key"),
        ("schema", "\"accelbench.profile/9\"", "schema"),
        ("name", "\"\"", "name"),
        ("all_reduce_bytes", "[4096]", "all_reduce_ms"),
        ("sequence_counts", "[1, 8]", "sequence_ms"),
        ("sequence_counts", "[4, 2]", "sequence_counts[1]"),
        ("sequence_counts", "[1.5]", "sequence_counts[0]"),
    ]

    @Test(arguments: badFields)
    func loadRejectsBadFieldsNamingFileAndField(key: String, value: String, field: String) throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/profile.json"
        let good = try HardwareProfile.builtin(HardwareProfile.defaultName).jsonString()
        guard case .object(var pairs) = try JSONParser.parse(good) else { Issue.record("not an object"); return }
        func set(_ pairs: inout [(String, JSONValue)], _ path: ArraySlice<Substring>, _ v: JSONValue) {
            let k = String(path.first!)
            if path.count == 1 {
                if let i = pairs.firstIndex(where: { $0.0 == k }) { pairs[i].1 = v } else { pairs.append((k, v)) }
                return
            }
            let i = pairs.firstIndex(where: { $0.0 == k })!
            guard case .object(var inner) = pairs[i].1 else { return }
            set(&inner, path.dropFirst(), v)
            pairs[i].1 = .object(inner)
        }
        set(&pairs, key.split(separator: ".")[...], try JSONParser.parse(value))
        try write(JSONValue.object(pairs).jsonString, to: path)
        expectDataError(file: path, field: field) { () throws(BenchError) in _ = try HardwareProfile.load(path: path) }
    }

    @Test func missingFieldIsNamed() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/profile.json"
        let good = try HardwareProfile.builtin(HardwareProfile.defaultName).jsonString()
        guard case .object(let pairs) = try JSONParser.parse(good) else { return }
        try write(JSONValue.object(pairs.filter { $0.0 != "peak_tflops" }).jsonString, to: path)
        expectDataError(file: path, field: "peak_tflops") { () throws(BenchError) in _ = try HardwareProfile.load(path: path) }
    }

    @Test func modelShapesAndParameterCounts() throws {
        let counts: [String: Double] = [
            "meta-llama/Llama-2-7b-hf": 6_738_415_616, "meta-llama/Llama-2-70b-hf": 68_976_648_192,
            "meta-llama/Meta-Llama-3-8B": 8_030_261_248, "meta-llama/Meta-Llama-3-70B": 70_553_706_496,
            "meta-llama/Llama-3.1-8B": 8_030_261_248, "meta-llama/Llama-3.1-70B": 70_553_706_496,
        ]
        for m in ProfileBuilder.models {
            #expect(m.shape.parameterCount == counts[m.shape.name], "\(m.shape.name)")
            #expect(m.shape.headDim == 128)
        }
        let p70 = try HardwareProfile.builtin("h100-llama2-70b-tp8")
        #expect(p70.model.numKVHeads == 8 && p70.model.numHeads == 64)  // GQA, from the CSV's n_kv_head
        #expect(p70.kvHeadsPerGPU == 1)
        #expect(p70.kvBytesPerTokenPerGPU == 2 * 80 * 1 * 128 * 2)
        let p7 = try HardwareProfile.builtin("h100-llama2-7b")
        #expect(p7.kvBytesPerTokenPerGPU == 2 * 32 * 32 * 128 * 2)
        #expect(p7.maxTokensPerRequest == 4096)
    }

    // MARK: iteration-time model

    @Test(arguments: expectedBuiltins)
    func timeIsMonotoneInTokens(name: String) throws {
        let model = IterationTimeModel(profile: try HardwareProfile.builtin(name))
        var previous = 0.0
        var previousIter = 0.0
        for n in 1...12_000 {
            let t = model.linearSeconds(tokens: n) + model.allReduceSeconds(tokens: n)
            #expect(t >= previous, "\(name): \(n) tokens faster than \(n - 1)")
            previous = t
            if n % 7 == 0 {
                let it = model.seconds(prefillLoad(tokens: n))
                #expect(it >= previousIter)
                previousIter = it
            }
        }
        #expect(model.linearSeconds(tokens: 0) == 0)
        // Beyond the table the slope of its top half continues the curve.
        let last = model.profile.linearTokens.last!
        let a = model.linearSeconds(tokens: last), b = model.linearSeconds(tokens: 2 * last)
        #expect(b > a * 1.5 && b < a * 2.5, "\(name): \(ms(a)) at \(last), \(ms(b)) at \(2 * last)")
    }

    @Test(arguments: expectedBuiltins)
    func attentionGrowsWithContext(name: String) throws {
        let model = IterationTimeModel(profile: try HardwareProfile.builtin(name))
        var prevDecode = -1.0
        var prevPrefill = -1.0
        for ctx in stride(from: 0, through: 8192, by: 512) {
            let d = model.breakdown(decodeLoad(batch: 16, context: ctx)).attention
            let p = model.breakdown(prefillLoad(tokens: 256, context: ctx)).attention
            #expect(d > prevDecode)
            #expect(p > prevPrefill)
            prevDecode = d
            prevPrefill = p
        }
        // Longer prefill chunks cost more attention per token (quadratic term), less the higher
        // rate a long-context profile gives longer sequences.
        let a = model.breakdown(prefillLoad(tokens: 512)).attention
        let b = model.breakdown(prefillLoad(tokens: 2048)).attention
        let half = model.profile.attentionHalfTokens
        #expect(b > 4 * a * 3.9 * (1 + half / 2048) / (1 + half / 512))
    }

    @Test func emptyLoadTakesNoTime() throws {
        let model = IterationTimeModel(profile: try HardwareProfile.builtin(HardwareProfile.defaultName))
        #expect(model.seconds(IterationLoad()) == 0)
        let b = model.breakdown(IterationLoad())
        #expect(b.linear == 0 && b.attention == 0 && b.allReduce == 0 && b.overhead == 0)
        var l = IterationLoad()
        l.addPrefill(newTokens: 0, contextTokens: 100)
        #expect(l == IterationLoad())
        #expect(model.seconds(l) == 0)
    }

    @Test func iterationLoadAccumulates() {
        var a = IterationLoad()
        a.addPrefill(newTokens: 4, contextTokens: 10)   // pairs 4 × (10 + 2.5) = 50
        a.addDecode(contextTokens: 100)
        var b = IterationLoad()
        b.addDecode(contextTokens: 7)
        b.addPrefill(newTokens: 3, contextTokens: 0)    // pairs 3 × 2 = 6
        let s = a + b
        #expect(s.tokens == 4 + 1 + 1 + 3)
        #expect(s.numSequences == 4)
        #expect(s.prefillAttentionPairs == 56)
        #expect(s.decodeContextTokens == 107)
        #expect(s.prefillContextTokens == 10)
        var c = a
        c.addDecode(contextTokens: 7)
        c.addPrefill(newTokens: 3, contextTokens: 0)
        #expect(c == s)
    }

    @Test func breakdownSumsToSeconds() throws {
        for name in ["h100-llama2-7b", "a100-llama3-70b-tp8"] {
            let model = IterationTimeModel(profile: try HardwareProfile.builtin(name))
            var l = decodeLoad(batch: 20, context: 900)
            l.addPrefill(newTokens: 300, contextTokens: 1200)
            let b = model.breakdown(l)
            #expect(abs(b.linear + b.attention + b.allReduce + b.overhead - model.seconds(l)) < 1e-12)
            #expect(b.overhead == model.profile.overheadMs / 1000)
            #expect(name.contains("tp") ? b.allReduce > 0 : b.allReduce == 0)
        }
    }

    /// The per-sequence table (CPU calibration) adds its interpolated time per sequence count, is
    /// 0 without a table, and round-trips through the profile file.
    @Test func perSequenceTableAddsItsTime() throws {
        var p = try HardwareProfile.builtin(HardwareProfile.defaultName)
        let plain = IterationTimeModel(profile: p)
        p.sequenceCounts = [1, 4, 16]
        p.sequenceMs = [2, 5, 8]
        let back = try HardwareProfile.parse(p.jsonString(), file: "p.json")
        #expect(back.sequenceCounts == [1, 4, 16] && back.sequenceMs == [2, 5, 8])
        let model = IterationTimeModel(profile: back)
        #expect(plain.sequenceSeconds(3) == 0)
        #expect(abs(model.sequenceSeconds(1) - 0.002) < 1e-12 && abs(model.sequenceSeconds(10) - 0.0065) < 1e-12)
        let l = decodeLoad(batch: 10, context: 500)
        #expect(abs(model.seconds(l) - plain.seconds(l) - 0.0065) < 1e-12)
        let b = model.breakdown(l)
        #expect(abs(b.linear + b.attention + b.allReduce + b.overhead - model.seconds(l)) < 1e-12)
    }

    @Test(arguments: expectedBuiltins)
    func maxTokensIsTheLargestFittingCount(name: String) throws {
        let model = IterationTimeModel(profile: try HardwareProfile.builtin(name))
        func time(_ n: Int, _ base: IterationLoad) -> Double {
            var l = base
            l.tokens = n
            return model.seconds(l)
        }
        let bases = [IterationLoad(), decodeLoad(batch: 32, context: 1024), decodeLoad(batch: 8, context: 3000) + prefillLoad(tokens: 200, context: 500)]
        for base in bases {
            for budgetMs in [1.0, 15, 25, 50, 100, 250, 1000, 5000] {
                let budget = budgetMs / 1000
                let n = model.maxTokens(within: budget, base: base)
                if n == 0 {
                    #expect(time(1, base) > budget)
                } else {
                    #expect(time(n, base) <= budget, "\(name) \(budgetMs) ms: \(n)")
                    #expect(time(n + 1, base) > budget, "\(name) \(budgetMs) ms: \(n) + 1 fits too")
                }
            }
        }
        #expect(model.maxTokens(within: 0, base: IterationLoad()) == 0)
        #expect(model.maxTokens(within: -1, base: IterationLoad()) == 0)
        #expect(model.maxTokens(within: .infinity, base: IterationLoad()) == IterationTimeModel.maxTokensCap)
    }

    @Test func pivotSanity() throws {
        for name in expectedBuiltins {
            let p = try HardwareProfile.builtin(name)
            let model = IterationTimeModel(profile: p)
            var l = IterationLoad()
            l.tokens = p.pivotTokens
            l.numSequences = 1
            #expect(abs(model.seconds(l) * 1000 - p.pivotMs) < 1e-9)
            #expect(p.linearTokens.contains(p.pivotTokens))
            #expect(p.pivotTokens == ProfileBuilder.pivotTokens(tokens: p.linearTokens, linearMs: p.linearMs, fraction: 0.9))
            print("\(name): S_pf = \(p.pivotTokens) tokens, T_pf = \(ms(p.pivotMs / 1000)), KV = \(p.kvCapacityBlocks) blocks")
        }
        let h = try HardwareProfile.builtin("h100-llama2-7b")
        #expect(h.pivotTokens >= 128 && h.pivotTokens <= 4096)
        #expect(h.pivotMs > 10 && h.pivotMs < 100)
        // A stricter saturation rule never gives a smaller pivot.
        #expect(ProfileBuilder.pivotTokens(tokens: h.linearTokens, linearMs: h.linearMs, fraction: 0.95) >= h.pivotTokens)
        #expect(ProfileBuilder.pivotTokens(tokens: h.linearTokens, linearMs: h.linearMs, fraction: 0.5) <= h.pivotTokens)
    }

    @Test func h100Llama2_7bIsPlausible() throws {
        let model = IterationTimeModel(profile: try HardwareProfile.builtin("h100-llama2-7b"))
        let d1 = model.seconds(decodeLoad(batch: 1, context: 1024))
        let d32 = model.seconds(decodeLoad(batch: 32, context: 1024))
        let d128 = model.seconds(decodeLoad(batch: 128, context: 1024))
        let p512 = model.seconds(prefillLoad(tokens: 512))
        let p2048 = model.seconds(prefillLoad(tokens: 2048))
        print("h100-llama2-7b: decode 1k context: batch 1 \(ms(d1)), batch 32 \(ms(d32)), batch 128 \(ms(d128)); prefill 512 \(ms(p512)), 2048 \(ms(p2048))")
        let b = model.breakdown(decodeLoad(batch: 32, context: 1024))
        print("h100-llama2-7b: decode 32 × 1k breakdown: linear \(ms(b.linear)), attention \(ms(b.attention)), overhead \(ms(b.overhead))")
        #expect(d32 > 0.010 && d32 < 0.040)
        #expect(p512 > 0.010 && p512 < 0.060)
        #expect(d1 < d32 && d32 < d128)
        #expect(p512 < p2048)
    }

    @Test func keyNumbersOfEveryProfile() throws {
        for name in expectedBuiltins {
            let p = try HardwareProfile.builtin(name)
            let model = IterationTimeModel(profile: p)
            let d = [1, 32, 128].map { model.seconds(decodeLoad(batch: $0, context: 1024)) }
            let f = [512, 2048].map { model.seconds(prefillLoad(tokens: $0)) }
            print("\(name): decode 1k b1/b32/b128 \(d.map(ms).joined(separator: " / ")); prefill 512/2048 \(f.map(ms).joined(separator: " / "))")
            #expect(d[0] < d[1] && d[1] < d[2])
            #expect(f[0] < f[1])
            #expect(d[0] > 0.003 && d[2] < 0.2)
        }
    }

    @Test func isotonicFitAndInterpolation() {
        #expect(TableMath.isotonic([1, 3, 2, 4]) == [1, 2.5, 2.5, 4])
        #expect(TableMath.isotonic([5, 1, 1, 1]) == [2, 2, 2, 2])
        #expect(TableMath.isotonic([]) == [])
        let x: [Double] = [1, 2, 4]
        let y: [Double] = [10, 20, 40]
        #expect(TableMath.interpolate(0, x: x, y: y, tailSlope: 10) == 10)
        #expect(TableMath.interpolate(3, x: x, y: y, tailSlope: 10) == 30)
        #expect(TableMath.interpolate(4, x: x, y: y, tailSlope: 10) == 40)
        #expect(TableMath.interpolate(6, x: x, y: y, tailSlope: 10) == 60)
        #expect(TableMath.tailSlope(x: x, y: y) == 10)
        #expect(TableMath.tailSlope(x: [4], y: [8]) == 2)
    }

    // MARK: builder, from fixtures in Vidur's layout

    @Test func builtProfileReproducesTheCSVTable() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rows: [(Int, [String: Double])] = [(1, fixtureMedians(1)), (256, fixtureMedians(1.7)), (1024, fixtureMedians(5.3))]
        var csv = mlpHeader() + "\n"
        for (n, m) in rows { csv += mlpRow(tokens: n, tp: 1, medians: m) + "\n" }
        csv += mlpRow(tokens: 64, tp: 2, medians: fixtureMedians(9)) + "\n"  // another TP: ignored
        try write(csv, to: dir + "/compute/h100/meta-llama/Llama-2-7b-hf/mlp.csv")
        let p = try ProfileBuilder.build(vidurDirectory: dir, gpu: "h100", model: "Llama-2-7b-hf", tensorParallel: 1)
        #expect(p.name == "h100-llama2-7b")
        #expect(p.linearTokens == [1, 256, 1024])
        #expect(p.linearMs == rows.map { expectedLinear($0.1, layers: 32) })
        #expect(p.allReduceBytes.isEmpty && p.allReduceMs.isEmpty)
        #expect(p.model == ProfileBuilder.models[0].shape)
        #expect(p.gpuMemoryGiB == 80 && p.memoryBandwidthGBps == 3350 && p.peakTFLOPs == 989)
        #expect(p.source.contains("compute/h100/meta-llama/Llama-2-7b-hf/mlp.csv"))
        // The time model returns the table at its points (the fixture is already monotone).
        let model = IterationTimeModel(profile: p)
        for (n, v) in zip(p.linearTokens, p.linearMs) { #expect(model.linearSeconds(tokens: n) == v / 1000) }
        // The profile survives its own JSON.
        let path = dir + "/out.json"
        try write(p.jsonString(), to: path)
        #expect(try HardwareProfile.load(path: path) == p)
    }

    @Test func builderAveragesRepeatedTokenCountsAndReadsAllReduceInBytes() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let m1 = fixtureMedians(2), m2 = fixtureMedians(2.5), m3 = fixtureMedians(4)
        let csv = [mlpHeader(), mlpRow(tokens: 8, tp: 2, medians: m1), mlpRow(tokens: 512, tp: 2, medians: m2),
                   mlpRow(tokens: 512, tp: 2, medians: m3), mlpRow(tokens: 8, tp: 1, medians: m3)].joined(separator: "\n") + "\n"
        try write(csv, to: dir + "/compute/a100/meta-llama/Llama-2-7b-hf/mlp.csv")
        let ar = """
        ,time_stats.all_reduce.min,time_stats.all_reduce.max,time_stats.all_reduce.mean,time_stats.all_reduce.median,time_stats.all_reduce.std,rank,num_workers,size,collective,devices_per_node,max_devices_per_node
        0,0.01,0.09,0.05,0.043,0.01,0,2,2048,all_reduce,1,8
        1,0.01,0.09,0.05,0.031,0.01,0,2,2048,all_reduce,2,8
        2,0.01,0.09,0.05,0.052,0.01,0,2,1048576,all_reduce,2,8
        3,0.01,0.09,0.05,0.077,0.01,0,4,2048,all_reduce,4,8

        """
        try write(ar, to: dir + "/network/a100_dgx/all_reduce.csv")
        let p = try ProfileBuilder.build(vidurDirectory: dir, gpu: "a100", model: "Llama-2-7b-hf", tensorParallel: 2)
        #expect(p.name == "a100-llama2-7b-tp2")
        #expect(p.linearTokens == [8, 512])
        #expect(p.linearMs[0] == expectedLinear(m1, layers: 32))
        #expect(p.linearMs[1] == (expectedLinear(m2, layers: 32) + expectedLinear(m3, layers: 32)) / 2)
        #expect(p.allReduceBytes == [4096, 2_097_152])
        #expect(p.allReduceMs == [0.031, 0.052])
        // Two all-reduces per layer of tokens × hidden × 2 bytes: 1 token = 8192 bytes.
        let model = IterationTimeModel(profile: p)
        let expected = 64 * (0.031 + (0.052 - 0.031) * (8192 - 4096) / (2_097_152 - 4096)) / 1000
        #expect(abs(model.allReduceSeconds(tokens: 1) - expected) < 1e-15)
        #expect(p.source.contains("network/a100_dgx/all_reduce.csv"))
    }

    @Test func builderErrorsNameFileAndColumn() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/compute/h100/meta-llama/Llama-2-7b-hf/mlp.csv"
        // A 70B-shaped row in the 7B folder.
        try write(mlpHeader() + "\n" + mlpRow(tokens: 1, tp: 1, medians: fixtureMedians(1), nHead: 64) + "\n", to: path)
        expectDataError(file: path, field: "n_head") { () throws(BenchError) in
            _ = try ProfileBuilder.build(vidurDirectory: dir, gpu: "h100", model: "Llama-2-7b-hf", tensorParallel: 1)
        }
        // A missing column.
        let header = mlpHeader().replacingOccurrences(of: "time_stats.mlp_act.median", with: "time_stats.mlp_act.p50")
        try write(header + "\n" + mlpRow(tokens: 1, tp: 1, medians: fixtureMedians(1)) + "\n", to: path)
        expectDataError(file: path, field: "time_stats.mlp_act.median") { () throws(BenchError) in
            _ = try ProfileBuilder.build(vidurDirectory: dir, gpu: "h100", model: "Llama-2-7b-hf", tensorParallel: 1)
        }
        // No rows for the requested TP.
        try write(mlpHeader() + "\n" + mlpRow(tokens: 1, tp: 1, medians: fixtureMedians(1)) + "\n", to: path)
        expectDataError(file: path, field: nil) { () throws(BenchError) in
            _ = try ProfileBuilder.build(vidurDirectory: dir, gpu: "h100", model: "Llama-2-7b-hf", tensorParallel: 8)
        }
        // Unknown GPU / model: usage errors listing the valid ones.
        #expect(throws: BenchError.usage("unknown GPU 'v100'; valid GPUs: h100, a100")) {
            try ProfileBuilder.build(vidurDirectory: dir, gpu: "v100", model: "Llama-2-7b-hf", tensorParallel: 1)
        }
        do {
            _ = try ProfileBuilder.build(vidurDirectory: dir, gpu: "h100", model: "Mistral-7B", tensorParallel: 1)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("Meta-Llama-3-70B"))
        }
    }

    @Test func kvCapacityFollowsItsFormula() throws {
        let m = ProfileBuilder.models[0].shape
        let blocks = try ProfileBuilder.kvCapacityBlocks(model: m, tensorParallel: 1, gpuMemoryGiB: 80)
        let gib = 1024.0 * 1024 * 1024
        let usable = 0.9 * 80 * gib - m.parameterCount * 2 - 8192 * (2 * 4096 + 3 * 11008) * 2 - 256 * 32000 * 4 - gib
        #expect(blocks == Int(usable / (32 * 524_288)))
        #expect(try HardwareProfile.builtin("h100-llama2-7b").kvCapacityBlocks == blocks)
        // More GPUs, more room per GPU.
        let m70 = ProfileBuilder.models[1].shape
        #expect(try ProfileBuilder.kvCapacityBlocks(model: m70, tensorParallel: 8, gpuMemoryGiB: 80)
                > ProfileBuilder.kvCapacityBlocks(model: m70, tensorParallel: 4, gpuMemoryGiB: 80))
        // 70B on one 80 GB GPU does not fit.
        #expect(throws: BenchError.self) { try ProfileBuilder.kvCapacityBlocks(model: m70, tensorParallel: 1, gpuMemoryGiB: 80) }
    }
}
