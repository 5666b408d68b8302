import BenchCore
import Dispatch
import Engine
import Foundation
import Harness
import LoadGen
import MockServer
import Reporting
import Workloads
#if canImport(Glibc)
import Glibc
#endif

/// accelbench's measurements of its own hot paths (`accelbench bench …`, release build). Each
/// returns its report lines.
public enum SelfBenchmarks {
    public static func generate(spec: String, count: Int, output: String?, repetitions: Int) throws -> [String] {
        var lines: [String] = []
        let out = output ?? "/tmp/accelbench-bench-\(getpid()).jsonl"
        var times: [Double] = []
        var bytes = 0
        for _ in 0..<max(1, repetitions) {
            let t0 = monotonicSeconds()
            let parsed = try WorkloadSpec.load(path: spec)
            let workload = try WorkloadGenerator(spec: parsed, specFile: spec).generate(GenerateOptions(count: count))
            let encoded = workload.encoded()
            try FileIO.writeAtomically(encoded, to: out)
            times.append(monotonicSeconds() - t0)
            bytes = encoded.count
        }
        if output == nil { try? FileIO.removeFile(out) }
        lines.append(reportLine(name: "generate \(count) requests from \(spec)", times: times,
                                extra: "file \(bytes / 1_000_000) MB"))
        return lines
    }

    public static func metrics(requests: Int, tokens: Int, threads: Int, viaFile: String?) throws -> [String] {
        var lines: [String] = []
        let options = MetricsOptions()
        if let dir = viaFile {
            let writer = try ResultsWriter(directory: dir, run: RunInfo(target: "bench:synthetic"))
            for i in 0..<requests { try writer.append(synthesize(i, tokens: tokens)) }
            try writer.finish()
            let t0 = monotonicSeconds()
            let summary = try ResultsReader(directory: dir).summarize(options: options)
            let dt = monotonicSeconds() - t0
            lines.append(reportLine(name: "report over \(requests) × \(tokens) tokens from \(dir)", times: [dt],
                                    extra: "attainment \(summary.overall.attainment.overall)"))
            return lines
        }
        let t0 = monotonicSeconds()
        let parts = max(1, threads)
        let results = WorkerSlots<MetricsAccumulator>(count: parts)
        let n = requests
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            var acc = MetricsAccumulator(options: options, classes: ["chat", "batch"])
            var i = p * n / parts
            let end = (p + 1) * n / parts
            while i < end {
                acc.add(synthesize(i, tokens: tokens))
                i += 1
            }
            results.set(p, acc)
        }
        var total = MetricsAccumulator(options: options, classes: ["chat", "batch"])
        for acc in results.values { total.merge(acc!) }
        let summary = try total.finish()
        let dt = monotonicSeconds() - t0
        lines.append(reportLine(name: "metrics over \(requests) requests × \(tokens) tokens, \(parts) threads", times: [dt],
                                extra: "tbt samples \(summary.overall.tbt?.count ?? 0), attainment \(String(format: "%.4f", summary.overall.attainment.overall))"))
        return lines
    }

    public static func scheduler(policy: String, running: Int, waiting: Int, steps: Int, waitingCandidates: Int) throws -> [String] {
        var lines: [String] = []
        let name = try PolicyName.parse(policy)
        var profile = try HardwareProfile.builtin(HardwareProfile.defaultName)
        profile.kvCapacityBlocks = 1_000_000  // room for every running request: no preemption noise
        var options = PolicyOptions()
        options.maxNumSeqs = running
        options.vllmMaxNumSeqs = running
        options.accelgen.waitingCandidates = waitingCandidates
        let engine = EngineCore(profile: profile, policy: name.make(options, profile: profile))
        var rng = SeededRNG(seed: 1)
        // Running: admit and prefill them in bulk first.
        var now = 0.0
        // Prompts of 500–1,500 tokens and outputs up to the context: none finishes within the timed steps.
        let context = profile.model.maxContextTokens
        guard steps < context - 1500 else { throw BenchError.usage("--steps must be below \(context - 1500) (requests would finish)") }
        let runners = (0..<running).map { i in
            let prompt = 500 + rng.index(below: 1000)
            return EngineRequest(id: i, className: "chat", arrivalS: 0, promptTokens: prompt,
                                 maxOutputTokens: context - prompt, slo: SLO(ttftMs: 1000, tbtMs: 100 + 100 * rng.uniform()))
        }
        for r in runners where engine.add(r, now: now) != nil { throw BenchError.usage("a running request was rejected") }
        var backend = SimulatedBackend(profile: profile)
        var warmup = 0
        while engine.running.count < running || engine.running.contains(where: { $0.phase != .decoding }) {
            warmup += 1
            if warmup > 100_000 { throw BenchError.usage("could not bring \(running) requests to decoding") }
            guard let step = engine.step(now: now, backend: &backend) else { throw BenchError.usage("the policy planned nothing") }
            now = step.endS
        }
        for i in 0..<waiting {
            let offline = i % 4 == 0
            let r = EngineRequest(id: running + i, className: offline ? "batch" : "chat", arrivalS: now,
                                  promptTokens: 100 + rng.index(below: 3000), maxOutputTokens: 100 + rng.index(below: 500),
                                  slo: offline ? SLO(jctS: 600) : SLO(ttftMs: 1000 + 4000 * rng.uniform(), tbtMs: 100))
            _ = engine.add(r, now: now)
        }
        var samples: [Double] = []
        samples.reserveCapacity(steps)
        for _ in 0..<steps {
            // Timed from the step's start to its plan being formed (`startS` is read then).
            let t0 = monotonicSeconds()
            let begun = engine.beginStep(now: now, backend: &backend) {
                samples.append(monotonicSeconds() - t0)
                return now
            }
            guard let begun else { throw BenchError.usage("the policy planned nothing") }
            now = engine.finishStep(begun, endS: begun.predictedEndS).endS
        }
        samples.sort()
        func us(_ q: Double) -> String { String(format: "%.1f", samples[min(samples.count - 1, Int(q * Double(samples.count)))] * 1e6) }
        lines.append("scheduler step, policy \(name.rawValue), \(engine.running.count) running, \(engine.policy.waitingCount) waiting: median \(us(0.5)) µs, p90 \(us(0.9)) µs, p99 \(us(0.99)) µs over \(steps) steps")
        return lines
    }

    public static func simulate(spec: String, policies: String, profile: String) throws -> [String] {
        var lines: [String] = []
        let prof = try HardwareProfile.resolve(profile)
        let parsed = try WorkloadSpec.load(path: spec)
        let workload = try WorkloadGenerator(spec: parsed, specFile: spec).generate()
        for p in policies.split(separator: ",") {
            let name = try PolicyName.parse(String(p))
            let engine = EngineCore(profile: prof, policy: name.make(PolicyOptions(), profile: prof))
            var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: prof))
            var records = 0
            let t0 = monotonicSeconds()
            let outcome = try driver.run(workload.requests.map(EngineRequest.init), onIteration: { _ in },
                                         onDone: { r in records += r.record().tokenTimesS.isEmpty ? 0 : 1 })
            let engineS = monotonicSeconds() - t0
            let dir = "/tmp/accelbench-simulate-\(getpid())-\(name.rawValue)"
            let full = try Harness.run(workload, on: EngineTarget(profile: prof, policy: name, policyOptions: PolicyOptions()), output: dir)
            try? FileManager.default.removeItem(atPath: dir)
            lines.append(String(format: "%@: %d requests, %d iterations, simulated %.0f s: engine+driver %.2f s wall; full run writing results %.2f s wall; attainment %.1f%%",
                         name.rawValue, workload.requests.count, outcome.iterations, outcome.endS, engineS, full.wallS,
                         full.summary.overall.attainment.overall * 100))
        }
        return lines
    }

    public static func endpoint(mode: String, streams: Int, tokens: Int, rate: Double, seconds: Double, tbt: Double, url: String?) throws -> [String] {
        var lines: [String] = []
        var c = MockServerConfig()
        c.ttft = .fixed(mode == "lag" ? 0.001 : 0)
        c.tbt = .fixed(mode == "streams" ? tbt : 0)
        let server = MockServer(c)
        if url == nil { _ = try server.start() }
        defer { if url == nil { server.stop() } }
        var reqs: [WorkloadRequest] = []
        switch mode {
        case "events":
            reqs = (0..<streams).map { WorkloadRequest(id: $0, arrivalS: 0, className: "bench", promptTokens: 16, outputTokens: tokens) }
        case "streams":
            // Connections opened over the first second (a burst of 10k SYNs at once overflows
            // the kernel's listen backlog); each stream lasts tokens × tbt, so all overlap.
            reqs = (0..<streams).map {
                WorkloadRequest(id: $0, arrivalS: Double($0) / Double(streams), className: "bench", promptTokens: 16, outputTokens: tokens)
            }
        case "lag":
            let n = Int(rate * seconds)
            reqs = (0..<n).map { WorkloadRequest(id: $0, arrivalS: Double($0) / rate, className: "bench", promptTokens: 16, outputTokens: 2) }
        default:
            throw BenchError.usage("--mode must be events, lag or streams")
        }
        var o = EndpointOptions(url: url ?? "http://127.0.0.1:\(server.port)", request: OpenAIRequestOptions(model: "mock"))
        o.startDelayS = 0.2
        var ok = 0, failed = 0, events = 0
        var failures: [String: Int] = [:]
        let t0 = monotonicSeconds()
        let outcome = try EndpointRunner(options: o, requests: reqs).run(onRecord: { r in
            if r.isOK { ok += 1 } else { failed += 1; failures[r.status, default: 0] += 1 }
            events += r.tokenTimesS.count
        }, shouldStop: { false })
        let wall = monotonicSeconds() - t0 - o.startDelayS
        switch mode {
        case "events":
            lines.append(String(format: "events: %d streams x %d tokens: %.0f SSE events/s received; client thread %.0f%% of a core; %d ok, %d failed",
                         streams, tokens, Double(events) / wall, outcome.cpuShare * 100, ok, failed))
        case "lag":
            lines.append(String(format: "lag: %.0f req/s for %.0f s: dispatch lag p50 %.3f ms, p99 %.3f ms, max %.3f ms; achieved %.1f req/s; %d ok, %d failed; client thread %.0f%%",
                         rate, seconds, outcome.lagP50Ms, outcome.lagP99Ms, outcome.lagMaxMs, outcome.achievedRate, ok, failed, outcome.cpuShare * 100))
        default:
            if !failures.isEmpty { lines.append("failures: " + failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) }
            lines.append(String(format: "streams: %d concurrent streams of %d tokens at %.0f ms: %d ok, %d failed in %.1f s; %.0f events/s",
                         streams, tokens, tbt * 1000, ok, failed, wall, Double(events) / wall))
        }
        return lines
    }

    public static func serve(streams: Int, tokens: Int, spread: Double, policy: String, maxNumSeqs: Int?, kvBlocks: Int?, profile: String, serverCpus: String) throws -> [String] {
        var lines: [String] = []
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let server = Process()
        let seqs = maxNumSeqs ?? streams
        let blocks = kvBlocks ?? streams * ((16 + tokens + 31) / 32 + 1)
        var args = ["serve", "--port", "0", "--policy", policy, "--profile", profile, "--model", "bench",
                    "--max-num-seqs", String(seqs), "--vllm-max-num-seqs", String(seqs), "--kv-blocks", String(blocks),
                    "--max-waiting", String(streams * 2), "--drain", "5"]
        if serverCpus.isEmpty {
            server.executableURL = exe
        } else {
            server.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
            args = ["-c", serverCpus, exe.path] + args
        }
        server.arguments = args
        let out = Pipe()
        server.standardOutput = out
        server.standardError = FileHandle.nullDevice
        try server.run()
        let reader = out.fileHandleForReading
        var text = ""
        while !text.contains("\n") {
            let d = reader.availableData
            if d.isEmpty { break }
            text += String(decoding: d, as: UTF8.self)
        }
        guard let r = text.range(of: "127.0.0.1:"), let port = Int(text[r.upperBound...].prefix { $0.isNumber }) else {
            server.terminate()
            throw BenchError.io("serve", "no port in '\(text)'")
        }
        let reqs = (0..<streams).map {
            WorkloadRequest(id: $0, arrivalS: spread * Double($0) / Double(streams), className: "bench", promptTokens: 16, outputTokens: tokens)
        }
        var o = EndpointOptions(url: "http://127.0.0.1:\(port)", request: OpenAIRequestOptions(model: "bench"))
        o.startDelayS = 0.2
        o.maxLagMs = 1000
        o.connectTimeoutS = 30
        let cpu0 = processCPU(server.processIdentifier)
        let t0 = monotonicSeconds()
        var ok = 0, failed = 0, events = 0
        var failures: [String: Int] = [:]
        var maxGap = 0.0
        _ = try EndpointRunner(options: o, requests: reqs).run(onRecord: { rec in
            if rec.isOK { ok += 1 } else { failed += 1; failures[rec.status, default: 0] += 1 }
            events += rec.tokenTimesS.count
            for (a, b) in zip(rec.tokenTimesS, rec.tokenTimesS.dropFirst()) { maxGap = max(maxGap, b - a) }
        }, shouldStop: { false })
        let wall = monotonicSeconds() - t0 - o.startDelayS
        let cpu = processCPU(server.processIdentifier) - cpu0
        server.terminate()
        var rest = text
        while true {
            let d = reader.availableData
            if d.isEmpty { break }
            rest += String(decoding: d, as: UTF8.self)
        }
        server.waitUntilExit()
        let stopped = rest.split(separator: "\n").first { $0.hasPrefix("stopped:") } ?? "stopped: (no line)"
        if !failures.isEmpty { lines.append("failures: " + failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) }
        lines.append(String(format: "serve: %d streams x %d tokens (%@, max-num-seqs %d): %d ok, %d failed; %d tokens in %.2f s (%.0f tokens/s); server CPU %.2f s = %.2f µs per streamed token (%.0f%% of one core); largest client-seen gap between tokens %.1f ms",
                     streams, tokens, policy, seqs, ok, failed, events, wall, Double(events) / wall, cpu,
                     events > 0 ? cpu / Double(events) * 1e6 : 0, cpu / wall * 100, maxGap * 1000))
        lines.append("server " + stopped)
        return lines
    }

    /// A deterministic record: Poisson-like arrivals at 100 req/s, a TTFT of 50–550 ms,
    /// and token gaps of 20–60 ms with an occasional 300 ms stall.
    static func synthesize(_ i: Int, tokens: Int) -> RequestRecord {
        var rng = SeededRNG(seed: 7, stream: 1, index: UInt64(i))
        let intended = Double(i) / 100
        let first = intended + 0.05 + 0.5 * rng.uniform()
        var times = [Double](repeating: 0, count: tokens)
        var t = first
        for k in 0..<tokens {
            if k > 0 { t += rng.uniform() < 0.01 ? 0.3 : 0.02 + 0.04 * rng.uniform() }
            times[k] = t
        }
        let batch = i % 5 == 0
        let slo = batch ? SLO(jctS: 30) : SLO(ttftMs: 400, tbtMs: 100)
        let failed = i % 97 == 0
        return RequestRecord(id: i, className: batch ? "batch" : "chat", intendedS: intended, sentS: intended,
                             firstTokenS: failed ? nil : first, tokenTimesS: failed ? [] : times, doneS: failed ? nil : t,
                             status: failed ? "http_500" : "ok", promptTokens: 1000, outputTokens: failed ? 0 : tokens,
                             tokenCountSource: .synthetic, slo: slo, metSLO: false)
    }

    /// Peak resident memory of this process in MB (getrusage reports kB on Linux).
    public static func peakRSSMegabytes() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    static func reportLine(name: String, times: [Double], extra: String) -> String {
        let sorted = times.sorted()
        let median = sorted[sorted.count / 2]
        return String(format: "%@: best %.3f s, median %.3f s over %d run(s); peak RSS %.0f MB; %@",
                     name, sorted[0], median, sorted.count, peakRSSMegabytes(), extra)
    }

    /// utime + stime of a process, seconds (/proc/PID/stat fields 14 and 15).
    static func processCPU(_ pid: Int32) -> Double {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = s.lastIndex(of: ")") else { return 0 }
        let fields = s[s.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let k = Double(fields[12]) else { return 0 }
        return (u + k) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
