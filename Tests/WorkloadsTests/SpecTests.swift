import BenchCore
import Foundation
import Testing
@testable import Workloads

// Spec parsing: the shipped specs parse, and every kind of bad spec is a data error (exit 65)
// whose one-line message names the file, the line and the field.

// MARK: - Shipped specs

@Test(arguments: ["smoke.yaml", "mixed-slo.yaml", "mixed-slo-short.yaml", "long-prompt.yaml", "multi-turn.yaml", "interactive-batch.yaml", "azure-code.yaml", "azure-conv.yaml", "mooncake.yaml"])
func shippedSpecsParse(_ name: String) throws {
    let spec = try WorkloadSpec.load(path: "\(repoWorkloadsDir)/\(name)")
    #expect(spec.name == String(name.dropLast(".yaml".count)))
    #expect(!spec.classes.isEmpty)
    #expect(spec.baseDirectory == repoWorkloadsDir)
}

@Test func smokeSpecParsesToTheExpectedModel() throws {
    let spec = try WorkloadSpec.load(path: "\(repoWorkloadsDir)/smoke.yaml")
    #expect(spec.seed == 1)
    #expect(spec.count == 20)
    #expect(spec.durationS == nil)
    #expect(spec.arrival == .poisson(rate: 5))
    #expect(spec.classes.map(\.name) == ["chat", "offline"])
    let chat = spec.classes[0], offline = spec.classes[1]
    #expect(chat.kind == .interactive && chat.share == 0.7 && chat.arrival == nil)
    #expect(chat.prompt == LengthSpec(kind: .uniform(min: 16, max: 256)))
    #expect(chat.slo == SLOSpec(ttft: .fixed(ms: 500, factor: .one), tbt: .fixed(ms: 100, factor: FactorRange(lo: 0.75, hi: 1.25)), jct: nil))
    #expect(offline.kind == .batch)
    let sigma2 = log(1.25)
    #expect(offline.prompt == LengthSpec(kind: .lognormal(mu: log(300) - sigma2 / 2, sigma: sigma2.squareRoot()), clip: (32, 1024)))
    #expect(offline.output == LengthSpec(kind: .fixed(16)))
    #expect(offline.slo.jct == .budget(baseS: 10, perOutputTokenMs: 50, perPromptTokenMs: 0, factor: .one))
    #expect(offline.prefix == PrefixSpec(mode: .groups(count: 2, tokens: 32)))
}

@Test func traceSpecsDefaultToTraceLengthsAndPrefixes() throws {
    let mooncake = try WorkloadSpec.load(path: "\(repoWorkloadsDir)/mooncake.yaml")
    #expect(mooncake.classes[0].prompt.kind == .fromTrace)
    #expect(mooncake.classes[0].output.kind == .fromTrace)
    #expect(mooncake.classes[0].prefix.mode == .fromTrace)
    guard case .trace(let t)? = mooncake.arrival else {
        Issue.record("mooncake.yaml should replay a trace")
        return
    }
    #expect(t.format == .mooncake)

    let conv = try WorkloadSpec.load(path: "\(repoWorkloadsDir)/azure-conv.yaml")
    guard case .trace(let c)? = conv.arrival else {
        Issue.record("azure-conv.yaml should replay a trace")
        return
    }
    #expect(c.windowS == nil, "the whole hour is replayed")
    #expect(c.format == .azure)
}

@Test func missingSpecFileIsAnIOError() {
    do {
        _ = try WorkloadSpec.load(path: "\(repoWorkloadsDir)/no-such-spec.yaml")
        Issue.record("loading a missing spec should fail")
    } catch {
        #expect(error.exitCode == ExitCodes.ioError)
        #expect(error.description.contains("no-such-spec.yaml"))
    }
}

// MARK: - Bad specs

/// A valid spec; each bad case replaces some of its lines (1-based) so line numbers stay put.
private let baseSpecLines = [
    "name: bad",                                          // 1
    "description: base spec",                             // 2
    "seed: 1",                                            // 3
    "count: 10",                                          // 4
    "arrival:",                                           // 5
    "  process: poisson",                                 // 6
    "  rate: 5",                                          // 7
    "classes:",                                           // 8
    "  - name: chat",                                     // 9
    "    kind: interactive",                              // 10
    "    share: 0.5",                                     // 11
    "    prompt: 100",                                    // 12
    "    output: 10",                                     // 13
    "    slo: {ttft: 500}",                               // 14
    "  - name: batch",                                    // 15
    "    kind: batch",                                    // 16
    "    share: 0.5",                                     // 17
    "    prompt: {dist: uniform, min: 1, max: 10}",       // 18
    "    output: 10",                                     // 19
]

private func baseSpec(replacing edits: [Int: String] = [:]) -> String {
    var lines = baseSpecLines
    for (line, text) in edits { lines[line - 1] = text }
    return lines.joined(separator: "\n") + "\n"
}

struct BadSpecCase: Sendable, CustomTestStringConvertible {
    var name: String
    var edits: [Int: String]
    /// The message starts with "bad.yaml:<line>".
    var line: Int
    /// Named as "field '<field>'" (nil: none, for YAML syntax errors).
    var field: String?
    /// Substrings the message must contain.
    var says: [String]
    var testDescription: String { name }
}

@Test(arguments: [
    BadSpecCase(name: "unknown top-level key", edits: [2: "colour: red"], line: 2, field: "colour",
                says: ["unknown key", "known keys here"]),
    BadSpecCase(name: "unknown key in a class", edits: [14: "    colour: red"], line: 14, field: "classes[0].colour",
                says: ["unknown key in class 'chat'"]),
    BadSpecCase(name: "unknown key in an arrival", edits: [7: "  rate: 5\n  burst: 2"], line: 8,
                field: "arrival.burst", says: ["unknown key in arrival 'poisson'"]),
    BadSpecCase(name: "rate of the wrong type", edits: [7: "  rate: \"fast\""], line: 7, field: "arrival.rate",
                says: ["expected a number", "fast"]),
    BadSpecCase(name: "rate not a number", edits: [7: "  rate: fast"], line: 7, field: "arrival.rate",
                says: ["expected a number"]),
    BadSpecCase(name: "negative rate", edits: [7: "  rate: -3"], line: 7, field: "arrival.rate", says: ["must be > 0", "-3"]),
    BadSpecCase(name: "zero rate", edits: [7: "  rate: 0"], line: 7, field: "arrival.rate", says: ["must be > 0"]),
    BadSpecCase(name: "shares not summing to 1", edits: [17: "    share: 0.3"], line: 9, field: "classes",
                says: ["must sum to 1", "chat=0.5 + batch=0.3 = 0.8"]),
    BadSpecCase(name: "share above 1", edits: [17: "    share: 1.5"], line: 17, field: "classes[1].share",
                says: ["share must be in (0, 1]"]),
    BadSpecCase(name: "unknown distribution", edits: [18: "    prompt: {dist: pareto, alpha: 2}"], line: 18,
                field: "classes[1].prompt.dist", says: ["unknown distribution 'pareto'"]),
    BadSpecCase(name: "unknown arrival process", edits: [6: "  process: hawkes"], line: 6, field: "arrival.process",
                says: ["unknown arrival process 'hawkes'"]),
    BadSpecCase(name: "duplicate class names", edits: [15: "  - name: chat"], line: 15, field: "classes[1]",
                says: ["duplicate class name 'chat'"]),
    BadSpecCase(name: "count and duration_s both given", edits: [2: "duration_s: 60"], line: 2, field: "duration_s",
                says: ["'count'", "'duration_s'", "not both"]),
    BadSpecCase(name: "class without share or arrival", edits: [17: "    # no share"], line: 15, field: "classes[1]",
                says: ["class 'batch' needs a 'share'", "'arrival'"]),
    BadSpecCase(name: "bad kind", edits: [16: "    kind: offline"], line: 16, field: "classes[1].kind",
                says: ["'interactive' or 'batch'"]),
    BadSpecCase(name: "zero fixed length", edits: [12: "    prompt: 0"], line: 12, field: "classes[0].prompt",
                says: ["≥ 1 token"]),
    BadSpecCase(name: "clip bound beyond Int (a fuzzer's find)", edits: [18: "    prompt: {dist: lognormal, mean: 300, cv: 1, clip: [32, 1e300]}"],
                line: 18, field: "classes[1].prompt.clip", says: ["clip bounds must be from 1 to 10^9"]),
    BadSpecCase(name: "fixed length beyond the cap", edits: [12: "    prompt: 2000000000"], line: 12, field: "classes[0].prompt",
                says: ["≤ 10^9"]),
    BadSpecCase(name: "uniform max beyond the cap", edits: [18: "    prompt: {dist: uniform, min: 10, max: 9000000000000000}"], line: 18,
                field: "classes[1].prompt.max", says: ["≤ 10^9"]),
    BadSpecCase(name: "uniform max below min", edits: [18: "    prompt: {dist: uniform, min: 10, max: 1}"], line: 18,
                field: "classes[1].prompt.max", says: ["1 ≤ min ≤ max"]),
    BadSpecCase(name: "factor range reversed", edits: [14: "    slo: {tbt: {ms: 100, factor: [1.5, 0.5]}}"], line: 14,
                field: "classes[0].slo.tbt.factor", says: ["above high"]),
    BadSpecCase(name: "unknown ttft_of", edits: [14: "    slo: {ttft: 500, ttft_of: answer}"], line: 14,
                field: "classes[0].slo.ttft_of", says: ["'token' or 'content'", "answer"]),
    BadSpecCase(name: "ttft_of without a ttft", edits: [14: "    slo: {tbt: 50, ttft_of: content}"], line: 14,
                field: "classes[0].slo.ttft_of", says: ["needs a ttft SLO"]),
    BadSpecCase(name: "trace lengths without a trace arrival", edits: [12: "    prompt: trace"], line: 9, field: "classes[0]",
                says: ["takes lengths or prefixes from the trace"]),
    BadSpecCase(name: "invalid YAML: unclosed flow mapping", edits: [18: "    prompt: {dist: uniform, min: 1"], line: 19,
                field: nil, says: ["invalid YAML"]),
    BadSpecCase(name: "invalid YAML: bad indentation", edits: [7: "   rate: 5"], line: 7, field: nil, says: ["invalid YAML"]),
    BadSpecCase(name: "invalid YAML: a duplicated key", edits: [7: "  rate: 5\n  rate: 6"], line: 8, field: nil,
                says: ["invalid YAML", "duplicated key(s) 'rate'"]),
])
func badSpecsAreDataErrorsNamingFileLineAndField(_ c: BadSpecCase) throws {
    let yaml = baseSpec(replacing: c.edits)
    do {
        let spec = try specFromYAML(yaml, file: "bad.yaml")
        Issue.record("\(c.name): parsed without error: \(spec.classes.map(\.name))")
    } catch {
        let text = error.description
        #expect(text.hasPrefix("bad.yaml:\(c.line):"), "\(c.name): \(text)")
        if let field = c.field {
            #expect(text.contains("field '\(field)'"), "\(c.name): \(text)")
        }
        for s in c.says {
            #expect(text.contains(s), "\(c.name): \(text)")
        }
        #expect(error.exitCode == 65, "\(c.name): \(error)")
        #expect(error.exitCode == ExitCodes.dataError)
        if case .data = error {} else { Issue.record("\(c.name): not a data error: \(error)") }
    }
}

/// `ttft_of: content` reaches every generated request's SLO and the workload file.
@Test func ttftOfContentReachesTheWorkload() throws {
    let reqs: [WorkloadRequest] = try generateYAML(baseSpec(replacing: [14: "    slo: {ttft: 500, ttft_of: content}"])).requests
    let chat = reqs.filter { $0.className == "chat" }, batch = reqs.filter { $0.className == "batch" }
    #expect(!chat.isEmpty && chat.allSatisfy { $0.slo.ttftOf == TTFTPoint.content && $0.slo.ttftMs == 500 })
    #expect(!batch.isEmpty && batch.allSatisfy { $0.slo.ttftOf == TTFTPoint.token })
}

@Test func baseSpecIsValid() throws {
    let spec = try specFromYAML(baseSpec(), file: "bad.yaml")
    #expect(spec.classes.map(\.name) == ["chat", "batch"])
    #expect(try WorkloadGenerator(spec: spec, specFile: "bad.yaml").generate().requests.count == 10)
}

@Test func missingEmpiricalTraceNamesThePath() throws {
    let yaml = baseSpec(replacing: [18: "    prompt: {dist: empirical, trace: traces/nope.csv, column: num_prefill_tokens}"])
    let spec = try specFromYAML(yaml, file: "bad.yaml")
    do {
        _ = try WorkloadGenerator(spec: spec, specFile: "bad.yaml").generate()
        Issue.record("a missing trace file should fail")
    } catch {
        let text = error.description
        #expect(text.hasPrefix("bad.yaml:18:"), "\(text)")
        #expect(text.contains("field 'classes[1].prompt'"), "\(text)")
        #expect(text.contains("\(repoWorkloadsDir)/traces/nope.csv"), "\(text)")
        #expect(text.contains("not found"), "\(text)")
        #expect(error.exitCode == 65)
    }
}

@Test func missingArrivalTraceNamesThePath() throws {
    let yaml = """
        name: replay
        arrival:
          process: trace
          trace: traces/missing.jsonl
        classes:
          - {name: a, kind: interactive, share: 1}
        """
    let spec = try specFromYAML(yaml, file: "replay.yaml")
    do {
        _ = try WorkloadGenerator(spec: spec, specFile: "replay.yaml").generate()
        Issue.record("a missing trace file should fail")
    } catch {
        let text = error.description
        #expect(text.hasPrefix("replay.yaml:4:"), "\(text)")
        #expect(text.contains("field 'arrival.trace'"), "\(text)")
        #expect(text.contains("\(repoWorkloadsDir)/traces/missing.jsonl"), "\(text)")
        #expect(error.exitCode == 65)
    }
}

@Test func unknownEmpiricalColumnNamesTheTraceAndColumn() throws {
    let yaml = baseSpec(replacing: [18: "    prompt: {dist: empirical, trace: traces/etalon_sharegpt_8k_filtered_stats_llama2_tokenizer.csv, column: tokens}"])
    let spec = try specFromYAML(yaml, file: "bad.yaml")
    do {
        _ = try WorkloadGenerator(spec: spec, specFile: "bad.yaml").generate()
        Issue.record("an unknown column should fail")
    } catch {
        #expect(error.description.contains("etalon_sharegpt_8k_filtered_stats_llama2_tokenizer.csv:1"), "\(error)")
        #expect(error.description.contains("'tokens'"), "\(error)")
        #expect(error.exitCode == 65)
    }
}

@Test func emptyAndNonMappingSpecsAreRejected() {
    for yaml in ["", "- just\n- a list\n", "classes: []\n"] {
        do {
            _ = try specFromYAML(yaml, file: "odd.yaml")
            Issue.record("\(yaml.debugDescription) parsed")
        } catch {
            #expect(error.description.hasPrefix("odd.yaml"), "\(error)")
            #expect(error.exitCode == 65)
        }
    }
}

// MARK: - Sessions

private let sessionSpec = """
name: sessions
seed: 4
count: 30
arrival: {process: poisson, rate: 2}
classes:
  - name: chat
    kind: interactive
    share: 0.7
    prompt: {dist: uniform, min: 10, max: 100}
    output: {dist: uniform, min: 5, max: 50}
    session: {turns: {dist: uniform, min: 1, max: 5}, think_ms: {dist: uniform, min: 1000, max: 3000}}
    slo: {ttft: {predicted: {fixed_ms: 10, per_token_ms: 0.1}, slack_ms: 100}}
  - name: one
    kind: interactive
    share: 0.3
    prompt: 64
    output: 8
"""

/// Each session's turns: prompt k = prompt k−1 + output k−1 + new user tokens, the whole prompt
/// in the session's prefix group, the nominal arrival a think time after the previous one, the
/// TTFT SLO predicted from the whole prompt; ids follow the nominal arrivals; same seed, same bytes.
@Test func sessionTurnsCarryTheirHistory() throws {
    let w = try generateYAML(sessionSpec)
    #expect(w.requests.map(\.id) == Array(w.requests.indices))
    #expect(zip(w.requests, w.requests.dropFirst()).allSatisfy { $0.arrivalS <= $1.arrivalS })
    let turns = Dictionary(grouping: w.requests.filter { $0.session != nil }) { $0.session!.id }
    #expect(turns.count + w.requests.filter { $0.className == "one" }.count == 30)
    #expect(turns.values.contains { $0.count >= 3 })
    for (sid, list) in turns {
        let t = list.sorted { $0.session!.turn < $1.session!.turn }
        #expect(t.map { $0.session!.turn } == Array(0..<t.count), "session \(sid)")
        for (k, r) in t.enumerated() {
            #expect(r.className == "chat" && r.prefixGroup == WorkloadGenerator.sessionGroupBase + sid && r.prefixTokens == r.promptTokens)
            #expect(r.slo.ttftMs == ((10 + 0.1 * Double(r.promptTokens) + 100) * 1000).rounded() / 1000)
            guard k > 0 else { #expect(r.session!.thinkS == 0); continue }
            let user = r.promptTokens - t[k - 1].promptTokens - t[k - 1].outputTokens
            #expect(user >= 10 && user <= 100, "session \(sid) turn \(k): \(user) new tokens")
            #expect(r.session!.thinkS >= 1 && r.session!.thinkS <= 3)
            #expect(abs(r.arrivalS - (t[k - 1].arrivalS + r.session!.thinkS)) < 2e-6)
        }
    }
    #expect(try generateYAML(sessionSpec) == w)
}

/// `max_context`: `truncate` caps a turn's prompt at max_context − output and drops its prefix
/// group; `end` ends the session before the turn that would not fit.
@Test func sessionsPastTheContextAreCutOrEnded() throws {
    func gen(_ overflow: String) throws -> [WorkloadRequest] {
        try generateYAML(sessionSpec.replacingOccurrences(of: "think_ms: {dist: uniform, min: 1000, max: 3000}}",
                                                          with: "think_ms: 1000, max_context: 200, on_overflow: \(overflow)}")).requests
    }
    let cut = try gen("truncate").filter { $0.session != nil }
    #expect(cut.allSatisfy { $0.promptTokens + $0.outputTokens <= 200 })
    #expect(cut.contains { $0.prefixGroup == nil && $0.session!.turn > 0 })
    let ended = try gen("end").filter { $0.session != nil }
    #expect(ended.allSatisfy { $0.promptTokens + $0.outputTokens <= 200 || $0.session!.turn == 0 })
    #expect(ended.allSatisfy { $0.prefixGroup != nil } && ended.count < cut.count)
}

@Test(arguments: [
    ("    prefix: {groups: 2, tokens: 8}\n", "takes no 'prefix'"),
    ("", "on_overflow must be 'truncate' or 'end'"),
])
func badSessionSpecs(_ extra: String, _ says: String) {
    var yaml = sessionSpec
    if extra.isEmpty {
        yaml = yaml.replacingOccurrences(of: "max: 3000}}", with: "max: 3000}, on_overflow: wrap}")
    } else {
        yaml = yaml.replacingOccurrences(of: "    slo: {ttft: {predicted", with: extra + "    slo: {ttft: {predicted")
    }
    do {
        _ = try generateYAML(yaml, file: "s.yaml")
        Issue.record("accepted")
    } catch {
        #expect(error.description.hasPrefix("s.yaml:") && error.description.contains(says), "\(error)")
    }
}
