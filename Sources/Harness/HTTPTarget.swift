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
        let scraper = options.serverMetricsURL.map {
            MetricsScraper(url: $0, intervalS: options.serverMetricsIntervalS, headers: options.requestHeaders, secrets: secrets)
        }
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
        scraper?.start()
        var outcome: EndpointOutcome
        do {
            outcome = try runner.run(onRecord: onRecord, shouldStop: shouldStop)
        } catch {
            // What was scraped is kept whatever stopped the run.
            if let scraper { try? writeServerMetrics(scraper.stop(originS: runner.originS), into: writer.directory) }
            throw error
        }
        if let scraper {
            let scrapes = scraper.stop(originS: runner.originS)
            try writeServerMetrics(scrapes, into: writer.directory)
            outcome.serverMetrics = ServerMetricsDigest(scrapes)
        }
        var invalid = outcome.invalidReasons
        // A run in which nothing succeeded measured no server.
        if recorded > 0 && succeeded == 0 { invalid.append("no request succeeded (\(recorded) recorded, all failed)") }
        var run = TargetRun(endS: outcome.endS, stopped: outcome.stopped, invalidReasons: invalid, details: outcome)
        run.lagLimit = (options.maxLagMs, outcome.lagNote)
        return run
    }

    /// `server_metrics.jsonl`, one scrape a line, written whole (atomically) after the run.
    func writeServerMetrics(_ scrapes: [ServerMetricsScrape], into directory: String) throws(BenchError) {
        var bytes: [UInt8] = []
        for s in scrapes { bytes += s.jsonLine() }
        try FileIO.writeAtomically(bytes, to: directory + "/" + ResultsFiles.serverMetrics)
    }

    /// A directory name for runs against `url` (its credentials left out).
    public static func directoryName(url: String) -> String {
        EndpointOptions.redactingCredentials(in: url).replacingOccurrences(of: "://", with: "-").replacingOccurrences(of: "/", with: "_")
    }
}
