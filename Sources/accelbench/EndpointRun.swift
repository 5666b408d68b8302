import BenchCore
import Foundation
import LoadGen
import Reporting

/// Runs a workload against a remote endpoint and writes the same results directory as an engine run.
struct EndpointRun {
    var workload: Workload
    var options: EndpointOptions
    var warmupRequests: Int
    var metrics: MetricsOptions
    var output: String

    struct Outcome {
        var summary: Summary
        var endpoint: EndpointOutcome
    }

    func execute() throws -> Outcome {
        let target = "endpoint:\(options.url) model=\(options.request.model) api=\(options.request.api.rawValue)"
        let writer = try ResultsWriter(directory: output, run: RunInfo(target: target, workload: workload.header), options: metrics)
        let warmupIDs = Set(workload.requests.prefix(warmupRequests).map(\.id))
        var writeError: BenchError?
        let runner = EndpointRunner(options: options, requests: workload.requests)
        let outcome = try runner.run(onRecord: { record in
            guard writeError == nil, !warmupIDs.contains(record.id) else { return }
            do { try writer.append(record) } catch { writeError = error as? BenchError ?? BenchError.io(output, "\(error)") }
        }, shouldStop: { Interrupt.isRequested })
        if let writeError { throw writeError }
        let summary = try writer.finish(runEndS: outcome.endS, interrupted: outcome.stopped, invalidReasons: outcome.invalidReasons)
        return Outcome(summary: summary, endpoint: outcome)
    }
}
