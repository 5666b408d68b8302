import BenchCore
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The files of a results directory. Every run (engine or endpoint) writes the same layout, so
/// one metrics path, `report`, gates and plots serve both.
public enum ResultsFiles {
    public static let summary = "summary.json"
    public static let requests = "requests.jsonl"
    public static let iterations = "iterations.jsonl"
    /// Run facts and a copy of the workload header.
    public static let run = "run.json"
    /// Endpoint runs with `--server-metrics`: the server's Prometheus metrics, one scrape a line.
    public static let serverMetrics = "server_metrics.jsonl"
    /// Endpoint runs with `--gpu-metrics`: GPU telemetry in the same format.
    public static let gpuMetrics = "gpu_metrics.jsonl"
}

/// Where a `ResultsWriter` encodes, journals and measures records.
public enum RecordWriting: Sendable, Equatable {
    /// On the caller's thread, as each record arrives.
    case inline
    /// On a second thread, in order, in batches of `BackgroundSink.batchRecords`, so a simulation
    /// producing records runs beside that work (our choice for simulated fleets, whose records
    /// come faster than one core encodes them). A crash loses the few batches not yet written;
    /// Ctrl-C does not (`finish` drains them).
    case batched
    /// On a second thread that takes what has arrived every `seconds`, so the thread producing
    /// records (a load generator's sender) never waits on the file system: page-cache writeback
    /// was measured stalling a synchronous write by 50 ms at 5k req/s. A crash loses at most
    /// that much of the journal; Ctrl-C loses nothing.
    case flushedEvery(seconds: Double)
}

/// Writes a results directory while a run goes on: records are journaled as they finish, so a
/// crash or Ctrl-C loses only requests still in flight; `finish` renames the journals into place
/// and writes `summary.json` atomically.
public final class ResultsWriter {
    public let directory: String
    public let options: MetricsOptions
    private var run: RunInfo
    /// nil when records are not kept (`summaryOnly`).
    private let requests: LineJournal?
    private var iterations: LineJournal?
    private var accumulator: MetricsAccumulator
    private let classes: [String]
    private var finished = false
    /// Background modes: records are encoded, journaled and measured on a second thread.
    private let background: BackgroundSink?
    private let writing: RecordWriting
    private var pending: [RequestRecord] = []
    /// How records store their token times (`token_times_s` or `token_deltas_us`).
    public let tokenTimes: TokenTimesEncoding

    /// - Parameter writing: where records are encoded, journaled and measured (`RecordWriting`).
    public init(directory: String, run: RunInfo, options: MetricsOptions = .init(), withIterations: Bool = false,
                writing: RecordWriting = .inline, tokenTimes: TokenTimesEncoding = .absolute, summaryOnly: Bool = false) throws(BenchError) {
        let background = writing != .inline
        self.writing = writing
        precondition(!summaryOnly || options.cooldownS == 0, "a cool-down needs the records (a second pass)")
        self.tokenTimes = tokenTimes
        try FileIO.makeDirectories(directory)
        self.directory = directory
        self.options = options
        var run = run
        run.source = directory
        self.run = run
        classes = run.workload?.classes.map(\.name) ?? []
        // A previous run's summary must not survive next to this run's records.
        for name in [ResultsFiles.summary, ResultsFiles.requests, ResultsFiles.iterations, ResultsFiles.serverMetrics, ResultsFiles.gpuMetrics] {
            _ = unlinkIfPresent(directory + "/" + name)
        }
        // In background modes lines go out in writes of up to 1 MiB (whole pages: the kernel need
        // not zero partly written ones), flushed after every hand-over in `.flushedEvery` mode (a
        // write per record cost a load generator's core 50,000 syscalls in a 5 s run at 10k
        // req/s); `finish` and Ctrl-C flush the rest.
        requests = summaryOnly ? nil : try LineJournal(path: directory + "/" + ResultsFiles.requests, bufferBytes: background ? 1 << 20 : 0)
        if withIterations {
            iterations = try LineJournal(path: directory + "/" + ResultsFiles.iterations, bufferBytes: 1 << 18)
        }
        accumulator = MetricsAccumulator(options: MetricsOptions(tbtMode: options.tbtMode, warmupS: options.warmupS), classes: classes)
        self.background = background ? BackgroundSink(journal: requests, accumulator: accumulator, tokenTimes: tokenTimes, writing: writing) : nil
        try writeRunFile(runEndS: nil)
    }

    /// Records one finished request. In `.flushedEvery` mode it may be called from another
    /// thread than the one that created the writer (one producer at a time).
    public func append(_ record: RequestRecord) throws(BenchError) {
        if case .flushedEvery = writing {
            background!.add(record)
            return
        }
        if let background {
            pending.append(record)
            if pending.count >= BackgroundSink.batchRecords {
                background.submit(pending)
                pending.removeAll(keepingCapacity: true)
            }
            return
        }
        try requests?.append(line: record.jsonLine(tokenTimes: tokenTimes))
        accumulator.addQuantizing(record)
    }

    /// One already-encoded JSON object (no newline) for `iterations.jsonl`.
    public func appendIteration(_ json: [UInt8]) throws(BenchError) {
        guard let iterations else { return }
        try iterations.append(line: json + [0x0A])
    }

    /// Commits the journals and writes `run.json` and `summary.json`.
    @discardableResult
    /// - Parameter lagLimit: a load generator's `--max-lag`: the run is invalid when the
    ///   dispatch lag p99 of its records (the one summary.json reports) exceeds `ms`; `note`
    ///   is added to the reason.
    public func finish(runEndS: Double? = nil, interrupted: Bool = false, invalidReasons: [String] = [],
                       engineIterations: Int? = nil, enginePreemptions: Int? = nil, cluster: JSONValue? = nil,
                       clock: JSONValue? = nil, lagLimit: (ms: Double, note: String)? = nil) throws(BenchError) -> Summary {
        precondition(!finished, "finish called twice")
        finished = true
        // As run.json stores it (microseconds), so `report` recomputes the same window.
        let runEndS = runEndS.map { ($0 * 1e6).rounded() / 1e6 }
        run.interrupted = interrupted
        run.invalidReasons = invalidReasons
        run.engineIterations = engineIterations
        run.enginePreemptions = enginePreemptions
        run.cluster = cluster
        run.clock = clock
        if let background {
            background.submit(pending)
            pending = []
            accumulator = try background.drain()
        }
        if let lagLimit, let p99 = accumulator.lag.stats?.p99, p99 > lagLimit.ms {
            run.invalidReasons.insert("dispatch lag p99 \(ResultsWriter.millis(p99)) ms exceeds --max-lag \(lagLimit.ms) ms"
                                      + lagLimit.note, at: 0)
        }
        try requests?.commit()
        try iterations?.commit()
        try writeRunFile(runEndS: runEndS)
        let summary: Summary
        if options.cooldownS > 0 {
            // The window's end depends on the run's end: a second pass over the records.
            summary = try ResultsReader(directory: directory).summarize(options: options)
        } else {
            summary = try accumulator.finish(runEndS: runEndS, run: run)
        }
        try FileIO.writeAtomically(summary.json(), to: directory + "/" + ResultsFiles.summary)
        return summary
    }

    /// Milliseconds as summary.json writes them (3 decimals), so a reason and the summary agree.
    static func millis(_ ms: Double) -> String {
        var w = JSONWriter()
        w.fixed(ms, decimals: 3)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    private func writeRunFile(runEndS: Double?) throws(BenchError) {
        var w = JSONWriter()
        w.beginObject()
        w.key("schema"); w.string("accelbench.run/1")
        w.key("target"); w.string(run.target)
        w.key("finished"); w.bool(finished)
        w.key("interrupted"); w.bool(run.interrupted)
        w.key("run_end_s"); w.optionalFixed(runEndS, decimals: 6)
        w.key("invalid_reasons")
        w.beginArray()
        for r in run.invalidReasons { w.string(r) }
        w.endArray()
        if run.engineIterations != nil || run.enginePreemptions != nil {
            w.key("engine_iterations"); w.optionalInt(run.engineIterations)
            w.key("engine_preemptions"); w.optionalInt(run.enginePreemptions)
        }
        if let c = run.cluster {
            w.key("cluster")
            c.write(to: &w)
        }
        if let c = run.clock {
            w.key("clock")
            c.write(to: &w)
        }
        w.key("workload")
        if let h = run.workload { w.raw(h.jsonBytes) } else { w.null() }
        w.endObject()
        w.newline()
        try FileIO.writeAtomically(w.bytes, to: directory + "/" + ResultsFiles.run)
    }
}

@discardableResult
func unlinkIfPresent(_ path: String) -> Bool {
    guard FileIO.exists(path) else { return false }
    return (try? FileIO.removeFile(path)) != nil
}

/// Reads a results directory back, including one left by a crashed or interrupted run
/// (`requests.jsonl.partial`, whose torn last line, if any, is dropped).
public struct ResultsReader {
    public let directory: String
    public var run: RunInfo
    public var runEndS: Double?
    /// The requests file actually read (the journal if the run never finished).
    public let requestsPath: String
    public let recovered: Bool

    public init(directory: String) throws(BenchError) {
        guard FileIO.isDirectory(directory) else { throw BenchError.io(directory, "not a results directory") }
        self.directory = directory
        let final = directory + "/" + ResultsFiles.requests
        if FileIO.exists(final) {
            requestsPath = final
            recovered = false
        } else if FileIO.exists(final + ".partial") {
            requestsPath = final + ".partial"
            recovered = true
        } else {
            throw BenchError.data(directory, "empty results: no \(ResultsFiles.requests) in the directory")
        }
        run = RunInfo(target: "unknown", source: directory)
        let runPath = directory + "/" + ResultsFiles.run
        if FileIO.exists(runPath) {
            let bytes = try FileIO.readFile(runPath)
            let value: JSONValue
            do { value = try bytes.withUnsafeBufferPointer { (b: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue in try JSONParser.parse(b) } } catch {
                throw BenchError.data(runPath, line: 1, "\(error)")
            }
            var f = try JSONFields(value, file: runPath, line: 1)
            run.target = try f.optionalString("target") ?? "unknown"
            run.interrupted = try f.optionalBool("interrupted") ?? false
            runEndS = try f.optionalDouble("run_end_s")
            if case .array(let items)? = f.raw("invalid_reasons") {
                run.invalidReasons = items.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
            }
            run.engineIterations = try f.optionalInt("engine_iterations")
            run.enginePreemptions = try f.optionalInt("engine_preemptions")
            if let c = f.raw("cluster"), !c.isNull { run.cluster = c }
            if let c = f.raw("clock"), !c.isNull { run.clock = c }
            if let wv = f.raw("workload"), !wv.isNull {
                run.workload = try WorkloadHeader.read(wv, file: runPath, line: 1)
            }
            if try f.optionalBool("finished") == false || recovered { run.interrupted = true }
            try f.finish(allowingExtra: true)
        } else if recovered {
            run.interrupted = true
        }
    }

    /// Streams the records file in blocks (memory stays bounded whatever the file's size), parses
    /// each block's lines on all cores, and merges the partial accumulators in file order.
    public func summarize(options: MetricsOptions, blockBytes: Int = 32 << 20) throws(BenchError) -> Summary {
        let classes = run.workload?.classes.map(\.name) ?? []
        var windowEnd: Double?
        if options.cooldownS > 0 {
            var end = runEndS ?? 0
            if runEndS == nil {
                try forEachRecord(blockBytes: blockBytes) { r in end = max(end, Metrics.lastInstant(of: r)) }
            }
            windowEnd = end - options.cooldownS
        }
        let end = windowEnd
        let workers = ResultsReader.workerCount
        var total = MetricsAccumulator(options: options, classes: classes, windowEndS: end)
        var ids = IDSet()
        let reader = UncheckedSendable(self)
        try forEachBlock(blockBytes: blockBytes) { (block: [UInt8], firstLine: Int, isLast: Bool) throws(BenchError) in
            let parts = ResultsReader.split(block, parts: block.count < (1 << 20) ? 1 : workers)
            let results = WorkerSlots<Result<(MetricsAccumulator, [(id: Int, line: Int)]), BenchError>>(count: parts.count)
            let shared = UncheckedSendable(block)
            DispatchQueue.concurrentPerform(iterations: parts.count) { i in
                var acc = MetricsAccumulator(options: options, classes: classes, windowEndS: end)
                var seen: [(id: Int, line: Int)] = []
                do throws(BenchError) {
                    try reader.value.parseLines(shared.value, range: parts[i].range, firstLine: firstLine + parts[i].firstLine - 1,
                                                finalBlock: isLast && i == parts.count - 1) { r, line in
                        acc.add(r)
                        seen.append((r.id, line))
                    }
                    results.set(i, .success((acc, seen)))
                } catch {
                    results.set(i, .failure(error))
                }
            }
            for r in results.values {
                switch r! {
                case .success(let (acc, seen)):
                    total.merge(acc)
                    if let dup = seen.first(where: { !ids.insert($0.id) }) { throw duplicateError(line: dup.line) }
                case .failure(let e): throw e
                }
            }
        }
        return try total.finish(runEndS: runEndS, run: run)
    }

    static var workerCount: Int {
        let n = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return max(1, min(n, 8))
    }

    /// Every record in file order.
    public func records() throws(BenchError) -> [RequestRecord] {
        var out: [RequestRecord] = []
        try forEachRecord { out.append($0) }
        return out
    }

    /// Every record in file order, streamed.
    /// Every record in file order, streamed. Each is checked (`check`), and an id seen before
    /// is refused, naming its line.
    public func forEachRecord(blockBytes: Int = 32 << 20, _ body: (RequestRecord) -> Void) throws(BenchError) {
        var ids = IDSet()
        var duplicate: Int?
        try forEachBlock(blockBytes: blockBytes) { (block: [UInt8], firstLine: Int, isLast: Bool) throws(BenchError) in
            try parseLines(block, range: 0..<block.count, firstLine: firstLine, finalBlock: isLast) { r, line in
                if duplicate == nil, !ids.insert(r.id) { duplicate = line }
                body(r)
            }
            if let line = duplicate { throw duplicateError(line: line) }
        }
    }

    func duplicateError(line: Int) -> BenchError {
        BenchError.data(SourceLocation(file: requestsPath, line: line, field: "id"), "a second record of the same request id")
    }

    /// The longest record line read, in bytes (256 MiB, our choice: a record with a million
    /// token times is about 10 MiB). A longer line is not a record, and holding it would take
    /// the reader's memory with it.
    public static let maxLineBytes = 256 << 20

    /// Reads the requests file in blocks that end at a newline (the last block may not: a torn
    /// final line of an interrupted run). `body` gets each block and its first line number. A
    /// line longer than a block is gathered in one growing buffer, so its cost is linear in its
    /// length; past `maxLineBytes` the file is refused, naming the line.
    func forEachBlock(blockBytes: Int, maxLineBytes: Int = ResultsReader.maxLineBytes,
                      _ body: ([UInt8], Int, Bool) throws(BenchError) -> Void) throws(BenchError) {
        let fd = open(requestsPath, O_RDONLY)
        guard fd >= 0 else { throw BenchError.io(requestsPath, "cannot open: \(FileIO.errnoText())") }
        defer { close(fd) }
        var carry: [UInt8] = []  // bytes after the last newline read so far
        var line = 1
        var buffer = [UInt8](repeating: 0, count: max(blockBytes, 4096))
        var eof = false
        while !eof {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BenchError.io(requestsPath, "read failed: \(FileIO.errnoText())")
            }
            eof = n == 0
            var block: [UInt8] = []
            swap(&block, &carry)
            if let lastNL = buffer[0..<n].lastIndex(of: 0x0A) {
                block.append(contentsOf: buffer[0...lastNL])
                carry.append(contentsOf: buffer[(lastNL + 1)..<n])
            } else if !eof {
                swap(&block, &carry)
                carry.append(contentsOf: buffer[0..<n])
                if carry.count > maxLineBytes {
                    throw BenchError.data(requestsPath, line: line, "the line is longer than \(maxLineBytes >> 20) MiB: not a record")
                }
                continue
            }
            if block.isEmpty { continue }
            try body(block, line, eof)
            line += countNewlines(block, 0..<block.count)
        }
    }

    /// The workload's class names, when run.json names them (records of other classes are refused).
    var classNames: Set<String>? {
        guard let classes = run.workload?.classes, !classes.isEmpty else { return nil }
        return Set(classes.map(\.name))
    }

    /// Refuses a record that contradicts itself or the run (`RequestRecord.consistencyProblem`).
    func check(_ record: RequestRecord, line: Int, classes: Set<String>?) throws(BenchError) {
        if let (field, message) = record.consistencyProblem(classes: classes) {
            throw BenchError.data(SourceLocation(file: requestsPath, line: line, field: field), message)
        }
    }

    func parseLines(_ bytes: [UInt8], range: Range<Int>, firstLine: Int, finalBlock: Bool,
                    _ body: (RequestRecord, Int) -> Void) throws(BenchError) {
        let file = requestsPath
        let recovered = self.recovered
        let classes = classNames
        let slice = Array(bytes[range])
        let endsClean = slice.last == 0x0A
        var lastLine = 0
        var pending: (Int, JSONParseError)?
        try forEachLine(slice) { (n: Int, line: UnsafeBufferPointer<UInt8>) throws(BenchError) in
            if let (ln, e) = pending { throw BenchError.data(file, line: ln, "\(e)") }
            let lineNo = n + firstLine - 1
            lastLine = lineNo
            if let record = RequestRecord.decodeFast(line) {
                try check(record, line: lineNo, classes: classes)
                body(record, lineNo)
                return
            }
            let value: JSONValue
            do throws(JSONParseError) {
                value = try JSONParser.parse(line)
            } catch {
                // A torn final line of an interrupted run's journal is expected: drop it.
                pending = (lineNo, error)
                return
            }
            let record = try RequestRecord.read(value, file: file, line: lineNo)
            try check(record, line: lineNo, classes: classes)
            body(record, lineNo)
        }
        if let (ln, e) = pending, !(recovered && finalBlock && ln == lastLine && !endsClean) {
            throw BenchError.data(file, line: ln, "\(e)")
        }
    }

    /// Splits at line boundaries into about `parts` ranges, with each range's first line number.
    static func split(_ bytes: [UInt8], parts: Int) -> [(range: Range<Int>, firstLine: Int)] {
        guard parts > 1 else { return [(0..<bytes.count, 1)] }
        var out: [(Range<Int>, Int)] = []
        var start = 0
        var line = 1
        for p in 1...parts {
            var end = p == parts ? bytes.count : bytes.count * p / parts
            while end < bytes.count, end > start, bytes[end - 1] != 0x0A { end += 1 }
            if end <= start { continue }
            out.append((start..<end, line))
            line += countNewlines(bytes, start..<end)
            start = end
        }
        return out
    }
}

/// A tiny mutex over pthread, to keep Reporting free of Foundation.
final class NSLockLike: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func locked<R>(_ f: () -> R) -> R {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return f()
    }
}

/// The second thread of a background `ResultsWriter`: batches of records go through a serial
/// queue, at most `maxBatchesInFlight` at a time (the producer waits beyond that, bounding
/// memory). Its state is touched only on that queue, and by the owner after `drain`.
final class BackgroundSink: @unchecked Sendable {
    /// Records per hand-over, and hand-overs queued at once. Our choice: large enough that the
    /// hand-over costs little, small enough that a crash loses little.
    static let batchRecords = 64
    static let maxBatchesInFlight = 32

    private let queue = DispatchQueue(label: "accelbench.results-writer")
    private let slots = DispatchSemaphore(value: BackgroundSink.maxBatchesInFlight)
    private let journal: LineJournal?
    private var accumulator: MetricsAccumulator
    private var failure: BenchError?
    private let tokenTimes: TokenTimesEncoding

    /// `.flushedEvery`: records handed over by `add`, taken by the timer on `queue`.
    private let arrivals = NSLockLike()
    private var arrived: [RequestRecord] = []
    private var timer: DispatchSourceTimer?

    init(journal: LineJournal?, accumulator: MetricsAccumulator, tokenTimes: TokenTimesEncoding, writing: RecordWriting) {
        self.journal = journal
        self.accumulator = accumulator
        self.tokenTimes = tokenTimes
        if case .flushedEvery(let seconds) = writing {
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.schedule(deadline: .now() + seconds, repeating: seconds)
            t.setEventHandler { [weak self] in
                guard let self else { return }
                consume(takeArrived(), flush: true)
            }
            t.resume()
            timer = t
        }
    }

    deinit { timer?.cancel() }

    /// `.flushedEvery`: hands one record over without waiting on anything but a short lock.
    func add(_ r: RequestRecord) {
        arrivals.locked { arrived.append(r) }
    }

    private func takeArrived() -> [RequestRecord] {
        arrivals.locked {
            let batch = arrived
            arrived = []
            return batch
        }
    }

    func submit(_ batch: [RequestRecord]) {
        guard !batch.isEmpty else { return }
        slots.wait()
        queue.async {
            self.consume(batch)
            self.slots.signal()
        }
    }

    /// Journals and measures `batch`; `flush` writes the journal's buffer out after it.
    private func consume(_ batch: [RequestRecord], flush: Bool = false) {
        guard failure == nil else { return }
        do {
            for r in batch {
                try journal?.append(line: r.jsonLine(tokenTimes: tokenTimes))
                accumulator.addQuantizing(r)
            }
            if flush { try journal?.flush() }
        } catch {
            failure = error
        }
    }

    /// Waits for every submitted batch; returns the measurements, or the first write error.
    func drain() throws(BenchError) -> MetricsAccumulator {
        if let timer {
            timer.cancel()
            self.timer = nil
        }
        queue.sync { consume(takeArrived()) }
        if let failure { throw failure }
        return accumulator
    }
}

/// Request ids seen so far: a bit per id for the dense range workloads use (0 up to
/// `denseLimit`, which costs at most 16 MiB), a hash set for the rest.
struct IDSet {
    static let denseLimit = 1 << 27
    private var bits: [UInt64] = []
    private var others: Set<Int> = []

    /// Adds `id`; false when it was there already.
    mutating func insert(_ id: Int) -> Bool {
        guard id >= 0, id < IDSet.denseLimit else { return others.insert(id).inserted }
        let word = id >> 6, mask = UInt64(1) << UInt64(id & 63)
        if word >= bits.count { bits.append(contentsOf: repeatElement(0, count: max(word + 1 - bits.count, bits.count))) }
        if bits[word] & mask != 0 { return false }
        bits[word] |= mask
        return true
    }
}
