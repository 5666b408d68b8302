import BenchCore
import Foundation
import Testing
@testable import Workloads

// Generation: determinism, arrival processes, common random numbers, length distributions,
// SLO rules, trace replay, duration/count modes and the workload header. Statistical checks use
// fixed seeds and 20k–40k arrivals; every bound is several standard errors wide.

// MARK: - Helpers (shared with SpecTests.swift)

/// `<repo>/workloads`, located from this source file (Tests/WorkloadsTests/…).
let repoWorkloadsDir: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("workloads").path
}()

/// Parses an inline spec; relative trace paths resolve against the repo's workloads/ folder.
func specFromYAML(_ yaml: String, file: String = "test.yaml") throws(BenchError) -> WorkloadSpec {
    try WorkloadSpec.parse(yaml: yaml, file: file, baseDirectory: repoWorkloadsDir)
}

func generateYAML(_ yaml: String, seed: UInt64? = nil, rate: Double? = nil, count: Int? = nil,
                  duration: Double? = nil, file: String = "test.yaml") throws(BenchError) -> Workload {
    let spec = try specFromYAML(yaml, file: file)
    return try WorkloadGenerator(spec: spec, specFile: file)
        .generate(GenerateOptions(seed: seed, rate: rate, count: count, durationS: duration))
}

/// Loads one of the shipped specs in workloads/ and generates it.
func generateShipped(_ name: String, seed: UInt64? = nil, rate: Double? = nil, count: Int? = nil,
                     duration: Double? = nil) throws(BenchError) -> Workload {
    let path = "\(repoWorkloadsDir)/\(name)"
    let spec = try WorkloadSpec.load(path: path)
    return try WorkloadGenerator(spec: spec, specFile: path)
        .generate(GenerateOptions(seed: seed, rate: rate, count: count, durationS: duration))
}

/// The bytes of a shipped trace in workloads/traces; a missing file fails the test.
func shippedTraceBytes(_ name: String) throws -> [UInt8] {
    let path = "\(repoWorkloadsDir)/traces/\(name)"
    return [UInt8](try #require(FileManager.default.contents(atPath: path), "missing shipped trace \(path)"))
}

func shippedTrace(_ name: String, format: TraceFormat) throws -> Trace {
    try TraceReader.parse(try shippedTraceBytes(name), file: name, format: format)
}

/// Mean rate (arrivals / last arrival, gaps counted from 0) and coefficient of variation of gaps.
func arrivalStats(_ times: [Double]) -> (rate: Double, cv: Double) {
    var gaps: [Double] = []
    gaps.reserveCapacity(times.count)
    var previous = 0.0
    for t in times {
        gaps.append(t - previous)
        previous = t
    }
    let mean = gaps.reduce(0, +) / Double(gaps.count)
    let variance = gaps.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(gaps.count - 1)
    return (1 / mean, variance.squareRoot() / mean)
}

func mean(_ xs: [Int]) -> Double { Double(xs.reduce(0, +)) / Double(xs.count) }

func coefficientOfVariation(_ xs: [Int]) -> Double {
    let m = mean(xs)
    let v = xs.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(xs.count - 1)
    return v.squareRoot() / m
}

/// One class on a shared arrival process.
func arrivalYAML(_ arrival: String, durationS: Double? = nil) -> String {
    """
    name: arrivals
    seed: 1
    \(durationS.map { "duration_s: \($0)" } ?? "")
    arrival: \(arrival)
    classes:
      - {name: a, kind: interactive, share: 1, prompt: 10, output: 5}
    """
}

/// One class whose prompt length follows `dist` (output fixed), at constant arrivals.
func promptLengths(_ dist: String, count: Int = 20_000, seed: UInt64 = 1) throws(BenchError) -> [Int] {
    let yaml = """
        arrival: {process: constant, rate: 100}
        classes:
          - name: a
            kind: interactive
            share: 1
            prompt: \(dist)
            output: 1
        """
    return try generateYAML(yaml, seed: seed, count: count).requests.map(\.promptTokens)
}

/// The SLOs drawn for `count` requests with fixed prompt and output lengths.
func sloDraws(_ slo: String, prompt: Int, output: Int = 100, count: Int = 200) throws(BenchError) -> [SLO] {
    let yaml = """
        arrival: {process: constant, rate: 10}
        classes:
          - name: a
            kind: interactive
            share: 1
            prompt: \(prompt)
            output: \(output)
            slo: \(slo)
        """
    return try generateYAML(yaml, seed: 3, count: count).requests.map(\.slo)
}

private let sharegpt = "etalon_sharegpt_8k_filtered_stats_llama2_tokenizer.csv"
private let bwb = "etalon_bwb_stats_llama2_tokenizer_filtered_v2.csv"
private let azureConv = "AzureLLMInferenceTrace_conv.csv"
private let azureCode = "AzureLLMInferenceTrace_code.csv"
private let mooncakeTrace = "mooncake_fast25_synthetic_trace.jsonl"

// MARK: - Determinism and round trip

/// Shipped specs generated once with count 500 and shared between tests: digesting the traces
/// mixed-slo.yaml reads is the slow part of generating it in debug builds.
private let shipped500: [String: Result<Workload, BenchError>] = Dictionary(uniqueKeysWithValues: ["smoke.yaml", "mixed-slo.yaml"].map { name in
    (name, Result { () throws(BenchError) -> Workload in try generateShipped(name, count: 500) })
})

private func shippedWith500(_ name: String) throws -> Workload {
    try #require(shipped500[name]).get()
}

@Test(arguments: ["smoke.yaml", "mixed-slo.yaml"])
func sameSeedGivesIdenticalBytes(_ name: String) throws {
    let a = try shippedWith500(name)
    let b = try generateShipped(name, count: 500)
    #expect(a.requests.count == 500)
    #expect(a.encoded() == b.encoded())
}

@Test func differentSeedGivesDifferentBytes() throws {
    let a = try shippedWith500("smoke.yaml")
    let other = try generateShipped("smoke.yaml", seed: a.header.seed + 1, count: 500)
    #expect(other.header.seed == a.header.seed + 1)
    #expect(other.encoded() != a.encoded())
    // Not just the header: the requests differ too.
    #expect(other.requests.map(\.promptTokens) != a.requests.map(\.promptTokens))
    #expect(other.requests.map(\.arrivalS) != a.requests.map(\.arrivalS))
}

@Test(arguments: ["smoke.yaml", "mixed-slo.yaml"])
func encodedWorkloadRoundTrips(_ name: String) throws {
    let w = try shippedWith500(name)
    let bytes = w.encoded()
    let decoded = try Workload.decode(bytes, file: "w.jsonl")
    #expect(decoded == w)
    #expect(decoded.encoded() == bytes)
    // One header line plus one line per request.
    #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 501)
}

@Test func requestsAreNumberedAndSortedByArrival() throws {
    let w = try shippedWith500("mixed-slo.yaml")
    #expect(w.requests.map(\.id) == Array(0..<500))
    #expect(zip(w.requests, w.requests.dropFirst()).allSatisfy { $0.arrivalS <= $1.arrivalS })
    let classes = Set(w.requests.map(\.className))
    #expect(classes == ["chat", "summarization", "code", "long-documents", "translation"])
}

/// Issue 19: the default workload is a real short/long mix. At least 10% of its prompts are 8K
/// tokens or more and 2% are 32K or more, and none exceeds the default profile's 128K context.
@Test func mixedSLOHasLongPrompts() throws {
    let w = try shippedWith500("mixed-slo.yaml")
    let prompts = w.requests.map(\.promptTokens)
    let atLeast8K = Double(prompts.filter { $0 >= 8192 }.count) / Double(prompts.count)
    let atLeast32K = Double(prompts.filter { $0 >= 32768 }.count) / Double(prompts.count)
    #expect(atLeast8K >= 0.10, "share of prompts >= 8K: \(atLeast8K)")
    #expect(atLeast32K >= 0.02, "share of prompts >= 32K: \(atLeast32K)")
    #expect(w.requests.allSatisfy { $0.promptTokens + $0.outputTokens <= 131_072 })
    // The short variant keeps every chat and code request within Llama-2's 4K context.
    let short = try generateShipped("mixed-slo-short.yaml", count: 300)
    #expect(short.requests.filter { ["chat", "code"].contains($0.className) }.allSatisfy { $0.promptTokens + $0.outputTokens <= 4096 })
}

// MARK: - Arrival processes

@Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
func poissonRateAndCV(seed: UInt64) throws {
    let w = try generateYAML(arrivalYAML("{process: poisson, rate: 10}"), seed: seed, count: 20_000)
    let s = arrivalStats(w.requests.map(\.arrivalS))
    #expect(abs(s.rate - 10) < 0.5, "seed \(seed): rate \(s.rate)")
    #expect(abs(s.cv - 1) < 0.05, "seed \(seed): cv \(s.cv)")
}

struct GammaCase: Sendable, CustomTestStringConvertible {
    var cv: Double
    var seed: UInt64
    var count: Int
    var testDescription: String { "cv \(cv) seed \(seed)" }
}

@Test(arguments: [
    GammaCase(cv: 2, seed: 1, count: 40_000), GammaCase(cv: 2, seed: 2, count: 40_000),
    GammaCase(cv: 0.5, seed: 1, count: 20_000), GammaCase(cv: 0.5, seed: 2, count: 20_000),
])
func gammaRateAndCV(_ c: GammaCase) throws {
    let w = try generateYAML(arrivalYAML("{process: gamma, rate: 10, cv: \(c.cv)}"), seed: c.seed, count: c.count)
    let s = arrivalStats(w.requests.map(\.arrivalS))
    #expect(abs(s.rate / 10 - 1) < 0.05, "seed \(c.seed): cv \(c.cv) rate \(s.rate)")
    #expect(abs(s.cv / c.cv - 1) < 0.10, "seed \(c.seed): cv \(c.cv) measured cv \(s.cv)")
}

@Test func constantArrivalsHaveExactGaps() throws {
    let quarter = try generateYAML(arrivalYAML("{process: constant, rate: 4}"), count: 100)
    #expect(quarter.requests.map(\.arrivalS) == (0..<100).map { Double($0) / 4 })

    let third = try generateYAML(arrivalYAML("{process: constant, rate: 3}"), count: 300)
    for (i, r) in third.requests.enumerated() {
        #expect(abs(r.arrivalS - Double(i) / 3) <= 1e-6, "request \(i): \(r.arrivalS)")
    }
}

@Test(arguments: [1, 2] as [UInt64])
func rampFillsSecondHalfThreeTimesFaster(seed: UInt64) throws {
    // Rate rises linearly 0 → 200/s over 400 s: Λ(t) = 200 t² / 800, so [0, 200) expects 10,000
    // arrivals and [200, 400) expects 30,000.
    let w = try generateYAML(arrivalYAML("{process: ramp, from_rate: 0, to_rate: 200, ramp_s: 400}", durationS: 400),
                             seed: seed)
    let times = w.requests.map(\.arrivalS)
    let first = times.filter { $0 < 200 }.count
    let second = times.filter { $0 >= 200 && $0 < 400 }.count
    #expect(first + second == times.count)
    #expect(abs(Double(times.count) / 40_000 - 1) < 0.03, "seed \(seed): total \(times.count)")
    let ratio = Double(second) / Double(first)
    #expect(abs(ratio / 3 - 1) < 0.05, "seed \(seed): \(first) then \(second), ratio \(ratio)")
}

@Test func rampHoldsTheFinalRateAfterTheRamp() throws {
    let w = try generateYAML(arrivalYAML("{process: ramp, from_rate: 50, to_rate: 10, ramp_s: 100}", durationS: 2100))
    // Ramp part: mean rate 30 over 100 s = 3000 expected; then 10/s for 2000 s = 20000 expected.
    let during = w.requests.filter { $0.arrivalS < 100 }.count
    let after = w.requests.count - during
    #expect(abs(Double(during) / 3000 - 1) < 0.08, "during ramp \(during)")
    #expect(abs(Double(after) / 20_000 - 1) < 0.04, "after ramp \(after)")
}

@Test(arguments: [1, 2] as [UInt64])
func onOffMeanRateAndBurstiness(seed: UInt64) throws {
    // Mean rate (20·0.5 + 2·0.5) / (0.5 + 0.5) = 11/s; short periods give thousands of cycles.
    let yaml = arrivalYAML("{process: onoff, on_rate: 20, off_rate: 2, mean_on_s: 0.5, mean_off_s: 0.5}")
    let w = try generateYAML(yaml, seed: seed, count: 40_000)
    let s = arrivalStats(w.requests.map(\.arrivalS))
    #expect(abs(s.rate / 11 - 1) < 0.05, "seed \(seed): rate \(s.rate)")
    #expect(s.cv > 1.3, "seed \(seed): cv \(s.cv)")
    #expect(w.header.rateRps == 11)
}

// MARK: - Common random numbers

private let crnClasses = """
    classes:
      - name: chat
        kind: interactive
        share: 0.6
        prompt: {dist: lognormal, mean: 300, cv: 1, clip: [1, 4000]}
        output: {dist: uniform, min: 1, max: 400}
        slo: {ttft: {ms: 500, factor: [0.5, 1.5]}, tbt: {ms: 100, factor: [0.75, 1.25]}}
      - name: batch
        kind: batch
        share: 0.4
        prompt: {dist: zipf, s: 1.1, min: 10, max: 2000}
        output: {dist: normal, mean: 200, sd: 80}
        slo: {jct: {s: 60, per_output_token_ms: 50, factor: [1, 3]}}
        prefix: {groups: 4, tokens: 64}
    """

@Test(arguments: ["{process: poisson, rate: 5}", "{process: gamma, rate: 5, cv: 2}"])
func doublingTheRateKeepsEveryDrawAndHalvesArrivals(_ arrival: String) throws {
    let yaml = "seed: 9\narrival: \(arrival)\n" + crnClasses
    let slow = try generateYAML(yaml, rate: 4, count: 2000)
    let fast = try generateYAML(yaml, rate: 8, count: 2000)
    #expect(slow.header.rateRps == 4)
    #expect(fast.header.rateRps == 8)
    #expect(slow.requests.count == fast.requests.count)
    #expect(Set(slow.requests.map(\.className)).count == 2)
    for (a, b) in zip(slow.requests, fast.requests) {
        #expect(a.className == b.className, "request \(a.id)")
        #expect(a.promptTokens == b.promptTokens, "request \(a.id)")
        #expect(a.outputTokens == b.outputTokens, "request \(a.id)")
        #expect(a.slo == b.slo, "request \(a.id)")
        #expect(a.prefixGroup == b.prefixGroup && a.prefixTokens == b.prefixTokens, "request \(a.id)")
        #expect(abs(b.arrivalS - a.arrivalS / 2) <= 1e-6, "request \(a.id): \(a.arrivalS) vs \(b.arrivalS)")
    }
}

@Test func rateSweepKeepsEachClassStreamWhenClassesHaveTheirOwnProcesses() throws {
    let yaml = """
        seed: 4
        classes:
          - name: chat
            kind: interactive
            arrival: {process: gamma, rate: 3, cv: 1.5}
            prompt: {dist: uniform, min: 1, max: 1000}
            output: {dist: lognormal, mean: 100, cv: 1}
            slo: {tbt: {ms: 100, factor: [0.5, 2]}}
          - name: batch
            kind: batch
            arrival: {process: poisson, rate: 1}
            prompt: {dist: uniform, min: 1, max: 1000}
            output: {dist: uniform, min: 1, max: 1000}
            slo: {jct: {s: 100, factor: [1, 5]}}
        """
    let slow = try generateYAML(yaml, rate: 4, duration: 500)
    let fast = try generateYAML(yaml, rate: 8, duration: 250)
    for name in ["chat", "batch"] {
        let a = slow.requests.filter { $0.className == name }
        let b = fast.requests.filter { $0.className == name }
        #expect(a.count > 100)
        // Each process keeps its draws; the duration cut may differ by a request at the edge.
        let n = min(a.count, b.count)
        #expect(abs(a.count - b.count) <= 1, "\(name): \(a.count) vs \(b.count)")
        for i in 0..<n {
            #expect(a[i].promptTokens == b[i].promptTokens && a[i].outputTokens == b[i].outputTokens
                        && a[i].slo == b[i].slo, "\(name) #\(i)")
            #expect(abs(b[i].arrivalS - a[i].arrivalS / 2) <= 1e-6, "\(name) #\(i)")
        }
    }
}

// MARK: - Empirical lengths

@Test func empiricalLengthsReproduceTracePercentilesAndKeepPairs() throws {
    let yaml = """
        seed: 21
        arrival: {process: poisson, rate: 10}
        classes:
          - name: chat
            kind: interactive
            share: 1
            prompt: {dist: empirical, trace: traces/\(sharegpt), column: num_prefill_tokens}
            output: {dist: empirical, trace: traces/\(sharegpt), column: num_decode_tokens}
        """
    let w = try generateYAML(yaml, count: 20_000)
    let raw = try shippedTraceBytes(sharegpt)
    let prompts = try TraceReader.column(raw, file: sharegpt, name: "num_prefill_tokens")
    let outputs = try TraceReader.column(raw, file: sharegpt, name: "num_decode_tokens")
    let wantPrompt = WorkloadStats.Distribution(prompts)
    let wantOutput = WorkloadStats.Distribution(outputs)
    let gotPrompt = WorkloadStats.Distribution(w.requests.map { Double($0.promptTokens) })
    let gotOutput = WorkloadStats.Distribution(w.requests.map { Double($0.outputTokens) })
    for (label, got, want) in [("prompt p50", gotPrompt.p50, wantPrompt.p50), ("prompt p90", gotPrompt.p90, wantPrompt.p90),
                               ("output p50", gotOutput.p50, wantOutput.p50), ("output p90", gotOutput.p90, wantOutput.p90)] {
        #expect(abs(got / want - 1) < 0.04, "\(label): generated \(got), trace \(want)")
    }
    // Joint sampling: each request is one row of the file.
    struct Pair: Hashable { var prompt: Int; var output: Int }
    let rows = Set(zip(prompts, outputs).map { Pair(prompt: Int($0), output: Int($1)) })
    let strays = w.requests.filter { !rows.contains(Pair(prompt: $0.promptTokens, output: $0.outputTokens)) }
    #expect(strays.isEmpty, "\(strays.count) generated pairs are not rows of the file, e.g. \(strays.first.map { "\($0.promptTokens),\($0.outputTokens)" } ?? "")")
}

@Test func empiricalColumnsFromDifferentFilesAreSampledIndependently() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wl-empirical-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try Data("num_prefill_tokens,num_decode_tokens\n10,1\n20,2\n30,3\n".utf8).write(to: dir.appendingPathComponent("a.csv"))
    try Data("len,other\n5,0\n6,0\n".utf8).write(to: dir.appendingPathComponent("b.csv"))
    let yaml = """
        arrival: {process: poisson, rate: 10}
        classes:
          - name: mix
            kind: interactive
            share: 1
            prompt: {dist: empirical, trace: a.csv, column: num_prefill_tokens}
            output: {dist: empirical, trace: b.csv, column: len}
        """
    let spec = try WorkloadSpec.parse(yaml: yaml, file: "t.yaml", baseDirectory: dir.path)
    let w = try WorkloadGenerator(spec: spec, specFile: "t.yaml").generate(GenerateOptions(count: 600))
    #expect(w.requests.allSatisfy { [10, 20, 30].contains($0.promptTokens) && [5, 6].contains($0.outputTokens) })
    // Not joint: every combination of the two columns occurs, each about 1/6 of the time.
    for p in [10, 20, 30] {
        for o in [5, 6] {
            let n = w.requests.filter { $0.promptTokens == p && $0.outputTokens == o }.count
            #expect(n > 60 && n < 140, "(\(p), \(o)) drawn \(n) times of 600")
        }
    }
    // Same file for both: rows stay paired.
    let paired = yaml.replacingOccurrences(of: "trace: b.csv, column: len", with: "trace: a.csv, column: num_decode_tokens")
    let spec2 = try WorkloadSpec.parse(yaml: paired, file: "t.yaml", baseDirectory: dir.path)
    let w2 = try WorkloadGenerator(spec: spec2, specFile: "t.yaml").generate(GenerateOptions(count: 300))
    #expect(w2.requests.allSatisfy { $0.promptTokens == 10 * $0.outputTokens })
}

// MARK: - Length distributions

@Test func fixedLengths() throws {
    #expect(try promptLengths("7", count: 100).allSatisfy { $0 == 7 })
    #expect(try promptLengths("{dist: fixed, value: 7}", count: 100).allSatisfy { $0 == 7 })
}

@Test func uniformLengthsStayInBoundsWithTheRightMean() throws {
    let xs = try promptLengths("{dist: uniform, min: 10, max: 20}")
    #expect(xs.allSatisfy { (10...20).contains($0) })
    #expect(abs(mean(xs) - 15) < 0.15, "mean \(mean(xs))")
    for v in 10...20 {
        let n = xs.filter { $0 == v }.count
        #expect(abs(Double(n) / (20_000.0 / 11) - 1) < 0.1, "value \(v) drawn \(n) times")
    }
}

@Test func truncatedNormalStaysInsideItsBounds() throws {
    let xs = try promptLengths("{dist: normal, mean: 100, sd: 50, min: 80, max: 150}")
    #expect(xs.allSatisfy { (80...150).contains($0) })
    #expect(xs.min()! <= 81 && xs.max()! >= 149)
    // Mean of N(100, 50²) truncated to [80, 150]: 100 + 50 (φ(−0.4) − φ(1)) / (Φ(1) − Φ(−0.4)) = 112.71.
    #expect(abs(mean(xs) - 112.71) < 1, "mean \(mean(xs))")

    let wide = try promptLengths("{dist: normal, mean: 5, sd: 10}", count: 5000)
    #expect(wide.allSatisfy { $0 >= 1 })
}

@Test func lognormalMeanAndCVForm() throws {
    let xs = try promptLengths("{dist: lognormal, mean: 300, cv: 0.5}")
    #expect(abs(mean(xs) / 300 - 1) < 0.03, "mean \(mean(xs))")
    #expect(abs(coefficientOfVariation(xs) / 0.5 - 1) < 0.1, "cv \(coefficientOfVariation(xs))")

    // mu/sigma form: the median is e^mu.
    let ys = try promptLengths("{dist: lognormal, mu: 5, sigma: 0.5}")
    let median = WorkloadStats.Distribution(ys.map(Double.init)).p50
    #expect(abs(median / exp(5) - 1) < 0.03, "median \(median)")
}

@Test func zipfFavoursItsMinimum() throws {
    let xs = try promptLengths("{dist: zipf, s: 1.2, min: 5, max: 50}")
    #expect(xs.allSatisfy { (5...50).contains($0) })
    var counts = [Int: Int]()
    for x in xs { counts[x, default: 0] += 1 }
    let top = counts.max { $0.value < $1.value }!.key
    #expect(top == 5)
    // P(k) ∝ (k − min + 1)^−s, so P(5) / P(6) = 2^1.2.
    let ratio = Double(counts[5]!) / Double(counts[6]!)
    #expect(abs(ratio / pow(2, 1.2) - 1) < 0.1, "P(5)/P(6) = \(ratio)")
    #expect(counts[6]! > counts[7]! && counts[7]! > counts[8]!)
    #expect(counts[50, default: 0] > 0)
}

@Test func clipAndScaleAreApplied() throws {
    let clipped = try promptLengths("{dist: lognormal, mean: 300, cv: 1, clip: [100, 400]}", count: 5000)
    #expect(clipped.allSatisfy { (100...400).contains($0) })
    #expect(clipped.contains(100) && clipped.contains(400))

    #expect(try promptLengths("{dist: fixed, value: 100, scale: 1.5}", count: 50).allSatisfy { $0 == 150 })
    let doubled = try promptLengths("{dist: uniform, min: 10, max: 20, scale: 2}", count: 2000)
    #expect(doubled.allSatisfy { $0 % 2 == 0 && (20...40).contains($0) })
    #expect(doubled.contains(20) && doubled.contains(40))
    // Scale first, then clip.
    #expect(try promptLengths("{dist: fixed, value: 100, scale: 3, clip: [1, 250]}", count: 50).allSatisfy { $0 == 250 })
    // Rounded to whole tokens, never below 1.
    #expect(try promptLengths("{dist: normal, mean: 0.3, sd: 0, min: 0}", count: 50).allSatisfy { $0 == 1 })
}

// MARK: - SLO rules

@Test func fixedSLOs() throws {
    let slos = try sloDraws("{ttft: 500, tbt: 100}", prompt: 10)
    #expect(slos.allSatisfy { $0 == SLO(ttftMs: 500, tbtMs: 100, jctS: nil) })
    let only = try sloDraws("{tbt: {ms: 75}}", prompt: 10, count: 5)
    #expect(only.allSatisfy { $0 == SLO(tbtMs: 75) })
}

@Test func factorRangesStayWithinTheirBounds() throws {
    let slos = try sloDraws("{ttft: {ms: 200, factor: [0.5, 1.5]}, tbt: {ms: 100, factor: [0.75, 1.25]}}", prompt: 10, count: 2000)
    let ttft = slos.map { $0.ttftMs! }, tbt = slos.map { $0.tbtMs! }
    #expect(ttft.allSatisfy { $0 >= 100 && $0 <= 300 })
    #expect(tbt.allSatisfy { $0 >= 75 && $0 <= 125 })
    // Uniform factors spread over the range.
    #expect(ttft.min()! < 110 && ttft.max()! > 290)
    #expect(tbt.min()! < 80 && tbt.max()! > 120)
    #expect(Set(tbt).count > 1000)
}

struct BucketCase: Sendable, CustomTestStringConvertible {
    var prompt: Int
    var ttftMs: Double
    var testDescription: String { "prompt \(prompt)" }
}

// Table [212, 222, 235, 243, 257, 270, 284, 295] per 512 tokens; past it, each 512 tokens add the
// last step (295 − 284 = 11 ms).
@Test(arguments: [
    BucketCase(prompt: 1, ttftMs: 212), BucketCase(prompt: 512, ttftMs: 212), BucketCase(prompt: 513, ttftMs: 222),
    BucketCase(prompt: 1024, ttftMs: 222), BucketCase(prompt: 1025, ttftMs: 235), BucketCase(prompt: 4096, ttftMs: 295),
    BucketCase(prompt: 4097, ttftMs: 306), BucketCase(prompt: 4608, ttftMs: 306), BucketCase(prompt: 4609, ttftMs: 317),
    BucketCase(prompt: 5000, ttftMs: 317), BucketCase(prompt: 10_240, ttftMs: 295 + 12 * 11),
])
func perBucketTTFT(_ c: BucketCase) throws {
    let slo = "{ttft: {bucket_tokens: 512, bucket_ms: [212, 222, 235, 243, 257, 270, 284, 295]}}"
    let slos = try sloDraws(slo, prompt: c.prompt, count: 5)
    #expect(slos.allSatisfy { $0.ttftMs == c.ttftMs }, "prompt \(c.prompt): \(slos.map { $0.ttftMs ?? -1 })")
}

@Test func perBucketTTFTWithFactorAndShortTables() throws {
    let table = "bucket_ms: [212, 222, 235, 243, 257, 270, 284, 295]"
    let scaled = try sloDraws("{ttft: {\(table), factor: [0.5, 1.5]}}", prompt: 513, count: 500)
    #expect(scaled.allSatisfy { $0.ttftMs! >= 111 && $0.ttftMs! <= 333 })
    #expect(Set(scaled.map { $0.ttftMs! }).count > 100)
    // Default 512-token buckets; a one-entry table has no step to extend by.
    #expect(try sloDraws("{ttft: {bucket_ms: [300]}}", prompt: 10_000, count: 3).allSatisfy { $0.ttftMs == 300 })
    #expect(try sloDraws("{ttft: {bucket_ms: [100, 150]}}", prompt: 1025, count: 3).allSatisfy { $0.ttftMs == 200 })
    #expect(try sloDraws("{ttft: {bucket_tokens: 100, bucket_ms: [100, 150]}}", prompt: 101, count: 3).allSatisfy { $0.ttftMs == 150 })
}

@Test func predictedTTFTPlusSlack() throws {
    // 4 + 0.021·1000 + 0.0001·1000² + 300 = 425 ms.
    let quadratic = "{ttft: {predicted: {fixed_ms: 4, per_token_ms: 0.021, per_token_sq_ms: 0.0001}, slack_ms: 300}}"
    #expect(try sloDraws(quadratic, prompt: 1000, count: 3).allSatisfy { $0.ttftMs == 425 })
    // mixed-slo-short.yaml's summarization rule: 4 + 0.021·2048 + 300 = 347.008 ms.
    let linear = "{ttft: {predicted: {fixed_ms: 4, per_token_ms: 0.021}, slack_ms: 300}}"
    #expect(try sloDraws(linear, prompt: 2048, count: 3).allSatisfy { $0.ttftMs == 347.008 })
}

@Test func jctBudget() throws {
    // 30 s + 180 ms · 200 output + 2 ms · 1000 prompt = 68 s.
    let exact = try sloDraws("{jct: {s: 30, per_output_token_ms: 180, per_prompt_token_ms: 2, factor: [1, 1]}}",
                             prompt: 1000, output: 200, count: 3)
    #expect(exact.allSatisfy { $0 == SLO(jctS: 68) })
    #expect(try sloDraws("{jct: 600}", prompt: 10, count: 3).allSatisfy { $0.jctS == 600 })
    let ranged = try sloDraws("{jct: {s: 30, per_output_token_ms: 180, per_prompt_token_ms: 2, factor: [1, 2]}}",
                              prompt: 1000, output: 200, count: 500)
    #expect(ranged.allSatisfy { $0.jctS! >= 68 && $0.jctS! <= 136 })
    #expect(Set(ranged.map { $0.jctS! }).count > 100)
}

@Test func sloRulesAreDescribedInTheHeader() throws {
    let w = try generateShipped("smoke.yaml")
    #expect(w.header.classes.map(\.sloRule) == ["ttft 500ms; tbt 100ms x U[0.75,1.25]", "jct (10s + 50ms/output token)"])
    // smoke.yaml's offline class: 10 s + 50 ms · 16 output tokens, prefix groups 0 or 1 of 32 tokens.
    for r in w.requests where r.className == "offline" {
        #expect(r.slo == SLO(jctS: 10.8))
        #expect(r.outputTokens == 16)
        #expect(r.promptTokens >= 32 && r.promptTokens <= 1024)
        #expect(r.prefixGroup == 0 || r.prefixGroup == 1)
        #expect(r.prefixTokens == 32)
    }
}

// MARK: - Trace replay

private func azureReplayYAML(_ options: String, trace: String = azureCode) -> String {
    """
    arrival: {process: trace, trace: traces/\(trace), format: azure\(options)}
    classes:
      - {name: a, kind: interactive, share: 1}
    """
}

@Test func traceWindowKeepsRowsInWindowShiftedToItsStart() throws {
    let trace = try shippedTrace(azureCode, format: .azure)
    let kept = trace.rows.filter { $0.timestampS! >= 600 && $0.timestampS! < 1200 }
    let w = try generateYAML(azureReplayYAML(", window_s: [600, 1200]"))
    #expect(w.requests.count == kept.count)
    #expect(kept.count > 100)
    for (r, row) in zip(w.requests, kept) {
        #expect(abs(r.arrivalS - (row.timestampS! - 600)) <= 2e-6, "request \(r.id)")
        #expect(r.promptTokens == row.promptTokens && r.outputTokens == row.outputTokens, "request \(r.id)")
    }
}

@Test func traceTimeScaleStretchesTime() throws {
    let trace = try shippedTrace(azureCode, format: .azure)
    let kept = trace.rows.filter { $0.timestampS! < 300 }
    let w = try generateYAML(azureReplayYAML(", window_s: [0, 300], time_scale: 2"))
    #expect(w.requests.count == kept.count)
    for (r, row) in zip(w.requests, kept) {
        #expect(abs(r.arrivalS - 2 * row.timestampS!) <= 4e-6, "request \(r.id)")
    }
}

@Test func traceRateRescaleHitsTheRequestedMeanRate() throws {
    let w = try generateYAML(azureReplayYAML(", window_s: [0, 600], rate: 3"))
    let times = w.requests.map(\.arrivalS)
    let rate = Double(times.count - 1) / (times.last! - times.first!)
    #expect(abs(rate / 3 - 1) < 1e-3, "rate \(rate)")
    #expect(abs(w.header.rateRps! / 3 - 1) < 1e-9)

    // --rate on a trace spec scales its measured mean rate the same way.
    let swept = try generateYAML(azureReplayYAML(", window_s: [0, 600]"), rate: 2)
    let sweptTimes = swept.requests.map(\.arrivalS)
    let sweptRate = Double(sweptTimes.count - 1) / (sweptTimes.last! - sweptTimes.first!)
    #expect(abs(sweptRate / 2 - 1) < 1e-3, "rate \(sweptRate)")
    #expect(abs(swept.header.rateRps! / 2 - 1) < 1e-9)
    #expect(swept.requests.map(\.promptTokens) == w.requests.map(\.promptTokens))
}

@Test func traceMaxGapCompressesOnlyLongGaps() throws {
    let trace = try shippedTrace(azureCode, format: .azure)
    let raw = trace.rows.map { $0.timestampS! }
    let rawGaps = zip(raw.dropFirst(), raw).map { $0 - $1 }
    try #require(rawGaps.contains { $0 > 10 }, "the code trace should have idle gaps over 10 s")
    let w = try generateYAML(azureReplayYAML(", max_gap_s: 10"))
    let times = w.requests.map(\.arrivalS)
    #expect(times.count == raw.count)
    #expect(times.first == 0)
    let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
    for (i, (got, was)) in zip(gaps, rawGaps).enumerated() {
        #expect(abs(got - min(was, 10)) <= 2e-6, "gap \(i): \(got), trace \(was)")
    }
    #expect(times.last! < raw.last! - 100)
}

@Test func traceCountBeyondItsRowsIsAnError() throws {
    let trace = try shippedTrace(azureCode, format: .azure)
    let rows = trace.rows.filter { $0.timestampS! < 60 }.count
    let yaml = azureReplayYAML(", window_s: [0, 60]")
    let all = try generateYAML(yaml, count: rows)
    #expect(all.requests.count == rows)
    #expect(all.requests.map(\.promptTokens) == trace.rows.prefix(rows).map(\.promptTokens))
    do {
        _ = try generateYAML(yaml, count: rows + 1)
        Issue.record("asking for more requests than the trace holds should fail")
    } catch {
        #expect(error.description.contains("\(rows) arrivals"), "\(error)")
        #expect(error.description.contains("\(rows + 1)"), "\(error)")
    }
}

@Test func mooncakeReplayCarriesPrefixGroups() throws {
    let w = try generateShipped("mooncake.yaml")
    let trace = try shippedTrace(mooncakeTrace, format: .mooncake)
    let groups = TraceReader.prefixGroups(trace)
    #expect(w.requests.count == trace.rows.count)
    let grouped = w.requests.filter { $0.prefixGroup != nil }
    #expect(!grouped.isEmpty)
    #expect(grouped.count < w.requests.count)
    // Rows come out in trace order (equal timestamps keep file order).
    for (i, r) in w.requests.enumerated() {
        #expect(r.promptTokens == trace.rows[i].promptTokens && r.outputTokens == trace.rows[i].outputTokens, "request \(i)")
        #expect(r.prefixGroup == groups[i]?.group && r.prefixTokens == groups[i]?.tokens, "request \(i)")
        if let t = r.prefixTokens { #expect(t >= 1 && t <= r.promptTokens, "request \(i)") }
    }
    // The encoded file keeps the prefix fields.
    #expect(try Workload.decode(w.encoded(), file: "m.jsonl") == w)
}

@Test func azureConvSpecReplaysTraceRows() throws {
    let w = try generateShipped("azure-conv.yaml")
    let trace = try shippedTrace(azureConv, format: .azure)
    let kept = trace.rows
    #expect(w.requests.count == kept.count)
    #expect(w.requests.map(\.arrivalS) == kept.map { ($0.timestampS! * 1e6).rounded() / 1e6 })
    // max_total_tokens 4096 (Llama-2's context): a trace row's prompt is cut to fit, its output kept.
    #expect(zip(w.requests, kept).allSatisfy {
        $0.outputTokens == $1.outputTokens && $0.promptTokens == min($1.promptTokens, 4096 - $1.outputTokens)
    })
    #expect(kept.contains { $0.promptTokens + $0.outputTokens > 4096 }, "the window holds rows that need cutting")
    #expect(w.requests.allSatisfy { $0.promptTokens + $0.outputTokens <= 4096 })
    let premium = w.requests.filter { $0.className == "premium" }
    let standard = w.requests.filter { $0.className == "standard" }
    #expect(premium.count + standard.count == w.requests.count)
    #expect(abs(Double(premium.count) / Double(w.requests.count) - 0.25) < 0.05)
    #expect(premium.allSatisfy { $0.slo == SLO(ttftMs: 500, tbtMs: 50) })
    #expect(standard.allSatisfy { $0.slo.ttftMs == 2000 && $0.slo.tbtMs! >= 112.5 && $0.slo.tbtMs! <= 187.5 })
}

// MARK: - Duration and count

@Test func durationModeKeepsArrivalsBeforeTheEnd() throws {
    let yaml = arrivalYAML("{process: poisson, rate: 10}", durationS: 100)
    let w = try generateYAML(yaml)
    #expect(w.requests.allSatisfy { $0.arrivalS < 100 })
    #expect(w.requests.count > 800 && w.requests.count < 1200)
    #expect(w.header.durationS == 100)
    #expect(w.header.count == w.requests.count)
    // --duration overrides the spec's count, --count the spec's duration.
    let counted = arrivalYAML("{process: poisson, rate: 10}").replacingOccurrences(of: "seed: 1", with: "seed: 1\ncount: 50")
    let byDuration = try generateYAML(counted, duration: 30)
    #expect(byDuration.requests.allSatisfy { $0.arrivalS < 30 })
    #expect(byDuration.requests.count > 150)
    let byCount = try generateYAML(yaml, count: 2000)
    #expect(byCount.requests.count == 2000)
    #expect(byCount.requests.last!.arrivalS > 100)
}

@Test func countOptionBeatsSpecCount() throws {
    let spec = try WorkloadSpec.load(path: "\(repoWorkloadsDir)/smoke.yaml")
    #expect(spec.count == 20)
    #expect(try generateShipped("smoke.yaml").requests.count == 20)
    let w = try generateShipped("smoke.yaml", count: 57)
    #expect(w.requests.count == 57)
    #expect(w.header.count == 57)
    // The first 20 requests are the spec-count workload's requests.
    #expect(Array(w.requests.prefix(20)) == (try generateShipped("smoke.yaml")).requests)
}

@Test func noCountOrDurationIsAUsageError() throws {
    do {
        _ = try generateYAML(arrivalYAML("{process: poisson, rate: 10}"))
        Issue.record("a non-trace spec without count or duration should fail")
    } catch {
        #expect(error.exitCode == ExitCodes.usage)
    }
}

// MARK: - Header

@Test func headerFields() throws {
    let w = try generateShipped("smoke.yaml")
    let h = w.header
    #expect(h.generator == generatorVersion)
    #expect(h.specName == "smoke")
    #expect(h.seed == 1)
    #expect(h.count == 20 && h.count == w.requests.count)
    #expect(h.rateRps == 5)
    #expect(h.durationS == w.requests.last!.arrivalS)
    #expect(h.classes == [
        WorkloadClassInfo(name: "chat", kind: .interactive, share: 0.7, sloRule: "ttft 500ms; tbt 100ms x U[0.75,1.25]"),
        WorkloadClassInfo(name: "offline", kind: .batch, share: 0.3, sloRule: "jct (10s + 50ms/output token)"),
    ])
    #expect(h.specDigest.hasPrefix("sha256:"))
    let hex = h.specDigest.dropFirst("sha256:".count)
    #expect(hex.count == 64 && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase })

    let firstLine = String(decoding: w.encoded().prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    #expect(firstLine.hasPrefix("{\"schema\":\"\(WorkloadHeader.schema)\""), "\(firstLine)")
    #expect(WorkloadHeader.schema == "accelbench.workload/1")
    #expect(firstLine.contains("\"seed\":1"))
    #expect(firstLine.contains("\"count\":20"))
    #expect(firstLine.contains("\"spec_digest\":\"sha256:"))

    #expect(try generateShipped("smoke.yaml", seed: 99).header.seed == 99)
}

@Test func specDigestFollowsTheSpecText() throws {
    let yaml = arrivalYAML("{process: poisson, rate: 10}")
    let a = try generateYAML(yaml, count: 10).header.specDigest
    #expect(try generateYAML(yaml, count: 10).header.specDigest == a)
    // The digest covers the spec, not the options.
    #expect(try generateYAML(yaml, seed: 5, count: 30).header.specDigest == a)
    // Any change to the text, even a comment, changes it.
    #expect(try generateYAML(yaml + "\n# note", count: 10).header.specDigest != a)
    #expect(try generateYAML(yaml.replacingOccurrences(of: "rate: 10", with: "rate: 11"), count: 10).header.specDigest != a)
}

@Test func specDigestCoversTraceFiles() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wl-digest-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let csv = dir.appendingPathComponent("lengths.csv")
    let yaml = """
        arrival: {process: poisson, rate: 10}
        classes:
          - name: a
            kind: interactive
            share: 1
            prompt: {dist: empirical, trace: lengths.csv, column: num_prefill_tokens}
            output: {dist: empirical, trace: lengths.csv, column: num_decode_tokens}
        """
    func digest() throws -> String {
        let spec = try WorkloadSpec.parse(yaml: yaml, file: "t.yaml", baseDirectory: dir.path)
        return try WorkloadGenerator(spec: spec, specFile: "t.yaml").generate(GenerateOptions(count: 5)).header.specDigest
    }
    try Data("num_prefill_tokens,num_decode_tokens\n10,5\n20,6\n".utf8).write(to: csv)
    let first = try digest()
    #expect(try digest() == first)
    try Data("num_prefill_tokens,num_decode_tokens\n10,5\n20,7\n".utf8).write(to: csv)
    #expect(try digest() != first)
}

@Test func maxTotalTokensRedrawsSampledLengths() throws {
    let yaml = """
    count: 3000
    seed: 4
    arrival: {process: poisson, rate: 10}
    classes:
      - name: a
        kind: interactive
        share: 1
        max_total_tokens: 3000
        prompt: {dist: uniform, min: 1, max: 3000}
        output: {dist: uniform, min: 1, max: 3000}
    """
    let w = try generateYAML(yaml)
    #expect(w.requests.allSatisfy { $0.promptTokens + $0.outputTokens <= 3000 })
    // Redrawn, not cut: the sum is spread out (uniform on the triangle), not piled at the limit.
    let atLimit = w.requests.filter { $0.promptTokens + $0.outputTokens == 3000 }.count
    #expect(atLimit < 30, "\(atLimit) requests sit exactly at the limit")
    #expect(throws: BenchError.self) { try specFromYAML(yaml.replacingOccurrences(of: "max_total_tokens: 3000", with: "max_total_tokens: 1")) }
}

/// A draw far in a distribution's tail (here every lognormal draw overflows to infinity) gives the
/// capped length, not a trap converting it to Int.
@Test func farTailDrawsStopAtTheLengthCap() throws {
    let yaml = """
    name: tail
    count: 5
    arrival: {process: poisson, rate: 1}
    classes:
      - name: huge
        kind: batch
        share: 1
        prompt: {dist: lognormal, mu: 800, sigma: 1}
        output: {dist: lognormal, mu: 5, sigma: 0, scale: 1e300}
        slo: {jct: 10}
    """
    let w = try generateYAML(yaml)
    #expect(w.requests.count == 5)
    #expect(w.requests.allSatisfy { $0.promptTokens == LengthSpec.maxValue && $0.outputTokens == LengthSpec.maxValue })
}
