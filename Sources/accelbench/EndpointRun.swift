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
        let sink = RecordSink(writer: writer)
        let runner = EndpointRunner(options: options, requests: workload.requests)
        let outcome: EndpointOutcome
        do {
            outcome = try runner.run(onRecord: { record in
                if !warmupIDs.contains(record.id) { sink.add(record) }
            }, shouldStop: { Interrupt.isRequested })
        } catch {
            _ = sink.close()
            throw error
        }
        if let writeError = sink.close() { throw writeError }
        let summary = try writer.finish(runEndS: outcome.endS, interrupted: outcome.stopped, invalidReasons: outcome.invalidReasons)
        return Outcome(summary: summary, endpoint: outcome)
    }
}


/// Hands finished records from the load generator's thread to a writer thread, so the sending
/// thread never blocks on the file system (page-cache writeback was measured stalling a
/// synchronous write by 50 ms at 5k req/s). The writer drains every `flushIntervalS` (50 ms, our
/// choice): a crash loses at most that much of the journal; Ctrl-C loses nothing.
final class RecordSink: @unchecked Sendable {
    static let flushIntervalS = 0.05
    private let writer: ResultsWriter
    private let condition = NSCondition()
    private var pending: [RequestRecord] = []
    private var closing = false
    private var done = false
    private var error: BenchError?
    private var thread: Thread!

    init(writer: ResultsWriter) {
        self.writer = writer
        thread = Thread { [unowned self] in self.loop() }
        thread.name = "accelbench-records"
        thread.start()
    }

    func add(_ r: RequestRecord) {
        condition.lock()
        pending.append(r)
        condition.unlock()
    }

    private func loop() {
        var batch: [RequestRecord] = []
        while true {
            condition.lock()
            if pending.isEmpty && !closing { _ = condition.wait(until: Date(timeIntervalSinceNow: RecordSink.flushIntervalS)) }
            swap(&batch, &pending)
            let last = closing && batch.isEmpty
            condition.unlock()
            if last { break }
            if error == nil {
                for r in batch {
                    do throws(BenchError) { try writer.append(r) } catch { self.error = error; break }
                }
            }
            batch.removeAll(keepingCapacity: true)
        }
        condition.lock()
        done = true
        condition.broadcast()
        condition.unlock()
    }

    /// Writes what is left, stops the thread, and returns the first write error.
    func close() -> BenchError? {
        condition.lock()
        closing = true
        condition.broadcast()
        while !done { condition.wait() }
        condition.unlock()
        return error
    }
}
