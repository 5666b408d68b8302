import BenchCore
import LoadGen
import Reporting

/// An OpenAI-compatible server, driven by the open-loop load generator.
public struct HTTPTarget: RunTarget {
    public var options: EndpointOptions
    /// The first N requests are sent but not recorded (warm-up).
    public var warmupRequests = 0
    /// How often records reach the journal, seconds. 50 ms: our choice (a crash loses at most
    /// that much of the journal).
    public static let flushIntervalS = 0.05

    public init(options: EndpointOptions, warmupRequests: Int = 0) {
        self.options = options
        self.warmupRequests = warmupRequests
    }

    public var identity: TargetIdentity {
        .endpoint(url: options.redactedURL, model: options.request.model, api: options.request.api.rawValue)
    }

    public var writesIterations: Bool { false }
    /// The sending thread never waits on the file system.
    public var recordWriting: RecordWriting { .flushedEvery(seconds: HTTPTarget.flushIntervalS) }

    public func run(_ workload: Workload, into writer: ResultsWriter,
                    shouldStop: @escaping () -> Bool) throws -> TargetRun<EndpointOutcome> {
        let warmupIDs = Set(workload.requests.prefix(warmupRequests).map(\.id))
        let runner = EndpointRunner(options: options, requests: workload.requests)
        // Computed once: a failing request's error is redacted on the sending thread.
        let secrets = options.secrets
        var recorded = 0, succeeded = 0
        var (samplers, notes) = telemetrySamplers(secrets: secrets)
        // Read before the start: what the clock said when the segments agreed to begin.
        let clock = options.startAtUnixS != nil ? ClockSync.read() : nil
        let onRecord: (RequestRecord) -> Void = { record in
            guard !warmupIDs.contains(record.id) else { return }
            var r = record
            // Servers echo credentials (a 401 body, an SSE error event): none is written.
            if !secrets.isEmpty, let e = r.error { r.error = EndpointOptions.redact(e, secrets: secrets) }
            recorded += 1
            if r.isOK { succeeded += 1 }
            // A write error is kept by the writer and thrown by `finish`.
            try? writer.append(r)
        }
        for (i, s) in samplers.enumerated().reversed() {
            do { try s.sampler.start() } catch {
                notes.append("\(s.file): not sampled: \(error)")
                samplers.remove(at: i)
            }
        }
        var outcome: EndpointOutcome
        do {
            outcome = try runner.run(onRecord: onRecord, shouldStop: shouldStop)
        } catch {
            // What was sampled is kept whatever stopped the run.
            for s in samplers { try? writeTelemetry(s.sampler.stop(originS: runner.originS), to: writer.directory + "/" + s.file) }
            throw error
        }
        outcome.telemetryNotes = notes
        for s in samplers {
            let samples = s.sampler.stop(originS: runner.originS)
            try writeTelemetry(samples, to: writer.directory + "/" + s.file)
            if s.file == ResultsFiles.serverMetrics {
                outcome.serverMetrics = ServerMetricsDigest(samples)
            } else {
                outcome.gpuMetrics = ServerMetricsDigest(samples)
            }
        }
        var invalid = outcome.invalidReasons
        var clockJSON: JSONValue?
        if let start = options.startAtUnixS, let clock {
            clockJSON = clock.json(startAtUnixS: start)
            if let w = clock.warning { outcome.telemetryNotes.append("warning: " + w) }
            if let r = clock.invalidReason { invalid.append(r) }
        }
        // A run in which nothing succeeded measured no server.
        if recorded > 0 && succeeded == 0 { invalid.append("no request succeeded (\(recorded) recorded, all failed)") }
        var run = TargetRun(endS: outcome.endS, stopped: outcome.stopped, invalidReasons: invalid, details: outcome)
        run.clock = clockJSON
        run.lagLimit = (options.maxLagMs, outcome.lagNote)
        return run
    }

    /// The samplers the options ask for, each with its file, and what cannot be sampled here.
    func telemetrySamplers(secrets: [String]) -> ([(sampler: TelemetrySampler, file: String)], [String]) {
        var out: [(sampler: TelemetrySampler, file: String)] = []
        var notes: [String] = []
        let every = options.serverMetricsIntervalS
        if let url = options.serverMetricsURL {
            out.append((MetricsScraper(url: url, intervalS: every, headers: options.requestHeaders, secrets: secrets), ResultsFiles.serverMetrics))
        }
        switch options.gpuMetrics {
        case .dcgm(let url)?:
            out.append((MetricsScraper(url: url, intervalS: every), ResultsFiles.gpuMetrics))
        case .nvidiaSMI?:
            if let smi = NvidiaSMISampler.find() {
                out.append((NvidiaSMISampler(executable: smi, intervalS: every), ResultsFiles.gpuMetrics))
            } else {
                notes.append("GPU telemetry: none here (no --gpu-metrics-url, and nvidia-smi is not on PATH); the run went on without it")
            }
        case nil:
            break
        }
        return (out, notes)
    }

    /// A telemetry file, one sample a line, written whole (atomically) after the run.
    func writeTelemetry(_ samples: [ServerMetricsScrape], to path: String) throws(BenchError) {
        var bytes: [UInt8] = []
        for s in samples { bytes += s.jsonLine() }
        try FileIO.writeAtomically(bytes, to: path)
    }

    /// A directory name for runs against `url` (its credentials left out).
    public static func directoryName(url: String) -> String {
        EndpointOptions.redactingCredentials(in: url).replacingOccurrences(of: "://", with: "-").replacingOccurrences(of: "/", with: "_")
    }
}
