import BenchCore
import Foundation

/// Something that samples a server's or a GPU's state on its own thread during a run.
public protocol TelemetrySampler: AnyObject {
    func start() throws(BenchError)
    /// Stops, and returns every sample with times relative to `originS` (the run's start on the
    /// monotonic clock).
    func stop(originS: Double) -> [ServerMetricsScrape]
}

extension MetricsScraper: TelemetrySampler {}

/// Where GPU telemetry comes from (`--gpu-metrics`).
public enum GPUTelemetry: Sendable, Equatable {
    /// A DCGM exporter's Prometheus URL.
    case dcgm(url: String)
    /// An `nvidia-smi` loop when `nvidia-smi` is on PATH; otherwise the run says so and goes on.
    case nvidiaSMI
}

/// GPU telemetry from an `nvidia-smi --query-gpu … -lms N` loop, for machines without a DCGM
/// exporter. Each line (one GPU) becomes samples under DCGM's names (`DCGM_FI_DEV_GPU_UTIL`,
/// `DCGM_FI_DEV_FB_USED`, `DCGM_FI_DEV_POWER_USAGE`, label `gpu`), so the series, the file and
/// the digest are those of a DCGM scrape. A sample is one loop tick: a line whose GPU the tick
/// already has starts the next one.
public final class NvidiaSMISampler: TelemetrySampler, @unchecked Sendable {
    public let executable: String
    public let intervalS: Double
    private var process: Process?
    private let lock = NSLock()
    private var ticks: [(tAbs: Double, result: Result<[PrometheusSample], BenchError>)] = []
    private var pending: [PrometheusSample] = []
    private var pendingAbs = 0.0
    private var lastTickGPUs = 0
    private var partial: [UInt8] = []

    static let query = "index,utilization.gpu,memory.used,power.draw"

    public init(executable: String, intervalS: Double) {
        self.executable = executable
        self.intervalS = intervalS
    }

    /// `nvidia-smi` on `PATH`, or nil: the caller says that no GPU telemetry is available.
    public static func find(path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        for dir in (path ?? "").split(separator: ":") {
            let candidate = String(dir) + "/nvidia-smi"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    public func start() throws(BenchError) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["--query-gpu=\(NvidiaSMISampler.query)", "--format=csv,noheader,nounits",
                       "-lms", String(max(10, Int((intervalS * 1000).rounded())))]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        out.fileHandleForReading.readabilityHandler = { [weak self] h in
            let data = h.availableData
            guard !data.isEmpty else { h.readabilityHandler = nil; return }
            self?.received(Array(data), at: monotonicSeconds())
        }
        do { try p.run() } catch {
            throw BenchError.unavailable("\(executable) could not start: \(error.localizedDescription)")
        }
        process = p
    }

    public func stop(originS: Double) -> [ServerMetricsScrape] {
        if let p = process, p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
        lock.lock()
        // A tick the stop cut short (fewer GPUs than the one before) would read as a drop.
        if gpus(in: pending) >= lastTickGPUs { flushPending() }
        let taken = ticks
        lock.unlock()
        return ServerMetricsScrape.series(taken.map { ($0.tAbs - originS, 0, $0.result) })
    }

    func received(_ bytes: [UInt8], at now: Double) {
        lock.lock()
        defer { lock.unlock() }
        partial += bytes
        while let nl = partial.firstIndex(of: 0x0A) {
            let line = String(decoding: partial[..<nl], as: UTF8.self)
            partial.removeSubrange(...nl)
            take(line, at: now)
        }
    }

    /// One CSV line: `index, util %, memory MiB, power W` (fields nvidia-smi cannot read are
    /// `[N/A]` or `[Not Supported]` and are left out).
    private func take(_ line: String, at now: Double) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return }
        let fields = trimmed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard fields.count == 4, Int(fields[0]) != nil else {
            ticks.append((now, .failure(.data("nvidia-smi", "unexpected line '\(trimmed.prefix(120))' (expected \(NvidiaSMISampler.query))"))))
            return
        }
        // A GPU seen again starts the next tick (each tick lists every GPU once).
        if pending.contains(where: { $0.label("gpu") == fields[0] }) { flushPending() }
        if pending.isEmpty { pendingAbs = now }
        let gpu = [PrometheusLabel("gpu", fields[0])]
        for (name, text) in [("DCGM_FI_DEV_GPU_UTIL", fields[1]), ("DCGM_FI_DEV_FB_USED", fields[2]), ("DCGM_FI_DEV_POWER_USAGE", fields[3])] {
            if let v = Double(text), v.isFinite { pending.append(PrometheusSample(name: name, labels: gpu, value: v)) }
        }
    }

    private func flushPending() {
        guard !pending.isEmpty else { return }
        ticks.append((pendingAbs, .success(pending)))
        lastTickGPUs = gpus(in: pending)
        pending = []
    }

    private func gpus(in samples: [PrometheusSample]) -> Int { Set(samples.compactMap { $0.label("gpu") }).count }
}
