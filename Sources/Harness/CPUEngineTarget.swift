import BenchCore
import Engine
import EngineCPU
import Foundation
import Models
import Reporting

/// The bundled engine running a real model on the CPU, in real time: requests arrive on the
/// workload's clock, the real-time driver runs every plan through `CPUBackend`, and token times
/// are what the monotonic clock read when each iteration ended.
public struct CPUEngineTarget: RealModelTarget {
    /// The scheduling profile: block size, KV blocks and the model's context are the real
    /// engine's (`CPUEngineTarget.profile(for:…)`); its time model is what policies that predict
    /// iteration times (AccelGen, EDF) plan with.
    public var profile: HardwareProfile
    public var policy: PolicyName
    public var policyOptions: PolicyOptions
    public var model: LoadedModel
    /// OpenBLAS threads.
    public var threads: Int
    /// Seed of the synthetic prompt ids (workload requests carry lengths, not text).
    public var promptSeed: UInt64 = 0
    public var prefixCaching = false
    public var onProgress: ((EngineProgress) -> Void)?

    public init(profile: HardwareProfile, policy: PolicyName, policyOptions: PolicyOptions, model: LoadedModel, threads: Int) {
        self.profile = profile
        self.policy = policy
        self.policyOptions = policyOptions
        self.model = model
        self.threads = threads
    }

    /// `base` with the real model's shape, context and a KV capacity of `kvMemoryGiB` in the
    /// CPU cache's layout (fp32 keys and values for every layer).
    public static func profile(for model: LoadedModel, base: HardwareProfile, kvMemoryGiB: Double,
                               blockSize: Int? = nil) -> HardwareProfile {
        let c = model.weights.config
        var p = base
        p.name = "cpu-" + ModelNames.short(model.name)
        p.gpu = "CPU (\(ProcessInfo.processInfo.activeProcessorCount) cores)"
        p.setRealModel(c, name: model.name)
        if let blockSize { p.blockSizeTokens = blockSize }
        let perBlock = PagedKVCache.bytesPerBlock(blockSize: p.blockSizeTokens, numLayers: c.numLayers, kvDim: c.kvDim)
        p.kvCapacityBlocks = max(1, Int(kvMemoryGiB * 1_073_741_824 / Double(perBlock)))
        return p
    }

    public var identity: TargetIdentity {
        .engine(.init(backend: "cpu", profile: profile.name, policy: policy.rawValue,
                      ablations: policyOptions.labels(for: policy)))
    }

    /// The backend: the model over a KV pool of the profile's blocks, on `threads` threads.
    public func makeBackend() -> CPUBackend {
        LlamaCPU.setThreads(threads)
        let c = model.weights.config
        let cache = PagedKVCache(numBlocks: profile.kvCapacityBlocks, blockSize: profile.blockSizeTokens,
                                 numLayers: c.numLayers, numKVHeads: c.numKVHeads, headDim: c.headDim)
        return CPUBackend(model: LlamaCPU(weights: model.weights, cache: cache))
    }

    public var vocabSize: Int { model.weights.config.vocabSize }
    public var reservedTokenIDs: Set<Int32> { ModelTokenizer.reservedIDs(model.tokenizer) }
    public func makeExecutionBackend() throws(BenchError) -> any ExecutionBackend { makeBackend() }
}

extension ModelTokenizer {
    /// Ids a synthetic prompt must not contain (BOS, EOS, stop tokens); none without a tokenizer.
    static func reservedIDs(_ t: ModelTokenizer?) -> Set<Int32> {
        t.map { Set([$0.bosID, $0.eosID].compactMap { $0 }).union($0.stopIDs) } ?? []
    }
}

/// A bundled engine that runs a real model (CPU or CUDA) in real time: requests arrive on the
/// workload's clock, the real-time driver runs every plan through the backend, and token times
/// are what the monotonic clock read when each iteration ended.
public protocol RealModelTarget: RunTarget where Details == RealTimeStats {
    var profile: HardwareProfile { get }
    var policy: PolicyName { get }
    var policyOptions: PolicyOptions { get }
    /// Seed of the synthetic prompt ids (workload requests carry lengths, not text).
    var promptSeed: UInt64 { get }
    var prefixCaching: Bool { get }
    var onProgress: ((EngineProgress) -> Void)? { get }
    var vocabSize: Int { get }
    var reservedTokenIDs: Set<Int32> { get }
    func makeExecutionBackend() throws(BenchError) -> any ExecutionBackend
}

extension RealModelTarget {
    public var writesIterations: Bool { true }
    public var recordWriting: RecordWriting { .inline }

    public func run(_ workload: Workload, into writer: ResultsWriter,
                    shouldStop: @escaping () -> Bool) throws -> TargetRun<RealTimeStats> {
        let backend = try makeExecutionBackend()
        let engine = EngineCore(profile: profile, policy: policy.make(policyOptions, profile: profile), prefixCaching: prefixCaching)
        engine.predictsEveryIteration = true  // iterations.jsonl: the profile's time beside the measured one
        let driver = RealTimeDriver(engine: engine, backend: backend, clock: MonotonicClock())
        let mailbox = Mailbox()
        driver.onStep = { mailbox.put(.iteration($0.record)) }
        let requests = workload.requests.sorted { ($0.arrivalS, $0.id) < ($1.arrivalS, $1.id) }
        driver.start()
        var feeder = Feeder(requests: requests, vocab: vocabSize, reserved: reservedTokenIDs, seed: promptSeed)
        var done = 0
        var stopped = false
        var progress = EngineProgress(simulatedS: 0, done: 0, total: requests.count, waiting: 0)
        while done < requests.count {
            // A backend failure aborted everything in the engine; what has not arrived never runs.
            if shouldStop() || driver.snapshot.backendFailure != nil { stopped = true; break }
            feeder.submitDue(to: driver, now: driver.now(), mailbox: mailbox)
            done += try mailbox.drain(into: writer) { feeder.ended($0) }
            progress.simulatedS = driver.now()
            progress.done = done
            progress.waiting = driver.snapshot.waiting
            onProgress?(progress)
            mailbox.wait(until: min(feeder.nextArrival ?? .infinity, driver.now() + 0.05), driverNow: driver.now)
        }
        driver.stop()
        _ = try mailbox.drain(into: writer)
        let stats = driver.snapshot
        return TargetRun(endS: driver.now(), stopped: stopped, engineIterations: stats.iterations,
                         enginePreemptions: stats.preemptions, details: stats)
    }
}

/// Hands workload requests to the driver when they are due (`ArrivalSchedule`: at their
/// arrival, or a session's later turn a think time after the previous one ended).
struct Feeder {
    let requests: [WorkloadRequest]
    let vocab: Int
    let reserved: Set<Int32>
    let seed: UInt64
    var schedule: ArrivalSchedule

    init(requests: [WorkloadRequest], vocab: Int, reserved: Set<Int32>, seed: UInt64) {
        self.requests = requests
        self.vocab = vocab
        self.reserved = reserved
        self.seed = seed
        schedule = ArrivalSchedule(requests)
    }

    var nextArrival: Double? { schedule.peek()?.dueS }

    /// A request's record was written: its session's next turn becomes due.
    mutating func ended(_ record: RequestRecord) {
        if schedule.hasSessions { schedule.ended(id: record.id, atS: Metrics.lastInstant(of: record)) }
    }

    mutating func submitDue(to driver: RealTimeDriver, now: Double, mailbox: Mailbox) {
        while let (i, due) = schedule.peek(), due <= now {
            schedule.pop()
            let w = requests[i]
            let r = EngineRequest(w)
            if r.arrivalS != due { r.setDue(due) }
            r.tokens = RequestTokens(prompt: SyntheticPrompt.tokenIDs(for: w, vocabSize: vocab, reserved: reserved, seed: seed))
            // Read on the delivery thread only after the engine has finished with the request.
            nonisolated(unsafe) let finished = r
            let accepted = driver.submit(r) { event in
                if case .finished = event { mailbox.put(.record(finished.record())) }
            }
            if accepted == nil { mailbox.put(.record(r.record())) }
        }
    }
}

/// Records and iteration records from the engine's threads to the thread that writes them.
final class Mailbox: @unchecked Sendable {
    enum Item {
        case record(RequestRecord)
        case iteration(IterationRecord)
    }

    private let condition = NSCondition()
    private var items: [Item] = []

    func put(_ item: Item) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Writes what has arrived, handing each request record to `onRecord`; returns how many
    /// request records it wrote.
    func drain(into writer: ResultsWriter, onRecord: (RequestRecord) -> Void = { _ in }) throws -> Int {
        condition.lock()
        let batch = items
        items.removeAll()
        condition.unlock()
        var records = 0
        for item in batch {
            switch item {
            case .record(let r):
                try writer.append(r)
                onRecord(r)
                records += 1
            case .iteration(let it):
                try writer.appendIteration(it.json())
            }
        }
        return records
    }

    /// Waits for an item, or until `target` on the driver's time axis.
    func wait(until target: Double, driverNow: () -> Double) {
        condition.lock()
        if items.isEmpty {
            let delay = max(0, target - driverNow())
            _ = condition.wait(until: Date(timeIntervalSinceNow: delay))
        }
        condition.unlock()
    }
}

public enum ModelNames {
    /// "…/SmolLM2-135M-Instruct.Q4_1.gguf" → "smollm2-135m-instruct.q4_1".
    public static func short(_ name: String) -> String {
        var base = name.split(separator: "/").last.map(String.init) ?? name
        if base.hasSuffix(".gguf") { base.removeLast(5) }
        return base.lowercased()
    }
}
