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
        let outcome = try runner.run(onRecord: { record in
            guard !warmupIDs.contains(record.id) else { return }
            var r = record
            // Servers echo credentials (a 401 body, an SSE error event): none is written.
            if !secrets.isEmpty, let e = r.error { r.error = EndpointOptions.redact(e, secrets: secrets) }
            recorded += 1
            if r.isOK { succeeded += 1 }
            // A write error is kept by the writer and thrown by `finish`.
            try? writer.append(r)
        }, shouldStop: shouldStop)
        var invalid = outcome.invalidReasons
        // A run in which nothing succeeded measured no server.
        if recorded > 0 && succeeded == 0 { invalid.append("no request succeeded (\(recorded) recorded, all failed)") }
        var run = TargetRun(endS: outcome.endS, stopped: outcome.stopped, invalidReasons: invalid, details: outcome)
        run.lagLimit = (options.maxLagMs, outcome.lagNote)
        return run
    }

    /// A directory name for runs against `url` (its credentials left out).
    public static func directoryName(url: String) -> String {
        EndpointOptions.redactingCredentials(in: url).replacingOccurrences(of: "://", with: "-").replacingOccurrences(of: "/", with: "_")
    }
}
