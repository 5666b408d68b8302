import ArgumentParser
import Tokenizer
import BenchCore
import Foundation
import LoadGen

/// Flags for runs against a remote OpenAI-compatible endpoint.
struct EndpointFlags: ParsableArguments {
    @Option(name: .long, help: "Base URL of an OpenAI-compatible server (http://host:port) or a full /v1/... URL. Switches `run` from the bundled engine to this endpoint.")
    var endpoint: String?

    @Option(name: .long, help: "Model name sent in each request.")
    var model: String?

    @Option(name: .long, help: "API: completions (/v1/completions) or chat (/v1/chat/completions).")
    var api: APIKind = .completions

    @Option(name: .long, help: "Server kind: generic, or vllm (adds ignore_eos and min_tokens so output lengths follow the workload).")
    var serverKind: ServerKind = .generic

    @Option(name: .long, help: "Prompt form: auto (token ids for --server-kind vllm, else text), tokens, or text.")
    var promptFormat = "auto"

    @Option(name: .long, help: "HF tokenizer.json (byte-level or SentencePiece-style BPE): text prompts get exactly the workload's token counts.")
    var tokenizer: String?

    @Option(name: .long, help: "Vocabulary size token-id prompts draw from (default 32000, Llama-2; the tokenizer's with --tokenizer).")
    var vocabSize = PromptBuilder.defaultVocabSize

    @Option(name: .long, help: "Environment variable holding the API key (sent as a bearer token; never printed or stored).")
    var apiKeyEnv = "OPENAI_API_KEY"

    @Option(name: .long, help: "Extra request header 'Name: value' (repeatable).")
    var header: [String] = []

    @Flag(name: .long, help: "Ask for usage on every chunk (stream_options.continuous_usage_stats; vLLM).")
    var continuousUsage = false

    @Flag(name: .long, help: "Use HTTP/2 (TLS ALPN, or prior knowledge for http://).")
    var http2 = false

    @Option(name: .long, help: "HTTP client: auto (accelbench's own HTTP/1.1 client for plain http://, libcurl otherwise), native, or curl.")
    var httpClient: HTTPClientKind = .auto

    @Option(name: .long, help: "TLS: CA bundle (PEM file) to verify the server's certificate with.")
    var cacert: String?

    @Flag(name: .long, help: "TLS: do not verify the server's certificate or host name.")
    var insecure = false

    @Option(name: .long, help: "Connect timeout, seconds.")
    var connectTimeout: Double = 10

    // Defaults (our choice): a holding server cannot stretch a run for ever; room for 100K-token prompts.
    @Option(name: .long, parsing: .unconditional, help: "Time-to-first-token timeout, seconds (0: none).")
    var firstTokenTimeout: Double = 600

    @Option(name: .long, parsing: .unconditional, help: "Idle timeout between received bytes, seconds (0: none).")
    var idleTimeout: Double = 300

    @Option(name: .long, parsing: .unconditional, help: "Total timeout per request, seconds (0: none).")
    var timeout: Double = 3600

    @Option(name: .long, help: "Closed-loop cap on requests in flight; waiting for a slot shows as dispatch lag (default: open loop).")
    var maxConcurrency: Int?

    @Option(name: .long, help: "Connection pool: most requests in flight, on reused connections; a request due while all are busy waits (dispatch lag). Default: 4096, or the descriptor limit less 64.")
    var maxConnections = EndpointOptions.defaultMaxConnections

    @Option(name: .long, help: "Send but leave out of the results the first N requests (warm-up).")
    var warmupRequests = 0

    @Option(name: .long, help: "After Ctrl-C, seconds to let requests in flight finish.")
    var drain: Double = 30

    @Option(name: .long, help: "The run is invalid when dispatch lag p99 exceeds this many milliseconds.")
    var maxLag: Double = 5

    @Option(name: .long, help: "Longest SSE line or event, bytes; a longer one is recorded oversized_event (default 4 MiB).")
    var maxEventBytes = 4 << 20

    @Option(name: .long, help: "Largest non-streamed reply, bytes; a larger one is recorded oversized_response (default 64 MiB).")
    var maxBodyBytes = 64 << 20

    @Flag(name: .long, help: "Scrape the server's Prometheus metrics during the run (the endpoint's /metrics unless --server-metrics-url) into server_metrics.jsonl.")
    var serverMetrics = false

    @Option(name: .long, help: "Metrics URL to scrape (implies --server-metrics).")
    var serverMetricsUrl: String?

    @Option(name: .long, help: "Milliseconds between scrapes and GPU samples (default 333, AIPerf's).")
    var serverMetricsInterval: Double = MetricsScraper.defaultIntervalS * 1000

    @Option(name: .long, help: "Run share i/N of the workload (requests interleaved by index, sessions whole), for N load generators; `accelbench merge` joins the results.")
    var segment: String?

    @Option(name: .long, help: "Wall-clock instant the run's time axis starts at: Unix seconds, or ISO 8601 UTC (2026-12-07T17:30:00Z). Every segment of a split run gets the same one.")
    var startAt: String?

    @Flag(name: .long, help: "Sample GPU telemetry during the run into gpu_metrics.jsonl: an nvidia-smi loop when nvidia-smi is here (else a note, and the run goes on), or --gpu-metrics-url.")
    var gpuMetrics = false

    @Option(name: .long, help: "A DCGM exporter's metrics URL to scrape for GPU telemetry (implies --gpu-metrics).")
    var gpuMetricsUrl: String?

    func validate() throws {
        guard endpoint != nil else {
            if segment != nil || startAt != nil { throw ValidationError("--segment and --start-at split a load generator: they need --endpoint") }
            if serverMetrics || serverMetricsUrl != nil || gpuMetrics || gpuMetricsUrl != nil {
                throw ValidationError("--server-metrics and --gpu-metrics need --endpoint (engine runs write their own state to iterations.jsonl)")
            }
            return
        }
        guard serverMetricsInterval >= 10, serverMetricsInterval.isFinite else { throw ValidationError("--server-metrics-interval must be at least 10 ms") }
        guard let model, !model.isEmpty else { throw ValidationError("--endpoint needs --model") }
        guard ["auto", "tokens", "text"].contains(promptFormat) else { throw ValidationError("--prompt-format must be auto, tokens or text") }
        if api == .chat && promptFormat == "tokens" { throw ValidationError("--prompt-format tokens does not apply to --api chat") }
        if tokenizer != nil && promptFormat == "tokens" { throw ValidationError("--tokenizer shapes text prompts; it does not combine with --prompt-format tokens") }
        guard warmupRequests >= 0 else { throw ValidationError("--warmup-requests must be ≥ 0") }
        if let problem = plainOptions().problem { throw ValidationError(problem) }
    }

    /// The options the flags set, less the tokenizer (a file to read). A timeout of 0 is none.
    func plainOptions() -> EndpointOptions {
        var r = OpenAIRequestOptions(model: model ?? "")
        r.api = api
        r.serverKind = serverKind
        r.continuousUsage = continuousUsage
        var o = EndpointOptions(url: endpoint ?? "", request: r)
        o.promptFormat = PromptFormat.resolved(promptFormat, serverKind: serverKind, api: api)
        o.headers = header
        o.apiKey = ProcessInfo.processInfo.environment[apiKeyEnv].flatMap { $0.isEmpty ? nil : $0 }
        o.connectTimeoutS = connectTimeout
        o.firstTokenTimeoutS = firstTokenTimeout == 0 ? nil : firstTokenTimeout
        o.idleTimeoutS = idleTimeout == 0 ? nil : idleTimeout
        o.totalTimeoutS = timeout == 0 ? nil : timeout
        o.maxConcurrency = maxConcurrency
        o.maxConnections = maxConnections
        o.drainS = drain
        o.maxLagMs = maxLag
        o.http2 = http2
        o.httpClient = httpClient
        o.caCertPath = cacert
        o.insecureTLS = insecure
        o.vocabSize = vocabSize
        o.maxEventBytes = maxEventBytes
        o.maxBodyBytes = maxBodyBytes
        if serverMetrics || serverMetricsUrl != nil {
            o.serverMetricsURL = serverMetricsUrl ?? MetricsScraper.defaultURL(endpoint: endpoint ?? "")
        }
        o.serverMetricsIntervalS = serverMetricsInterval / 1000
        if let url = gpuMetricsUrl { o.gpuMetrics = .dcgm(url: url) } else if gpuMetrics { o.gpuMetrics = .nvidiaSMI }
        return o
    }

    /// How late after `--start-at` a segment may still start: 600 s, our choice (a pod pulling its
    /// image); later, the instant is more likely stale than the segment slow.
    static let latestStartS = 600.0

    /// `--segment`, parsed.
    func parsedSegment() throws(BenchError) -> Segment? { try segment.map { s throws(BenchError) in try Segment.parse(s) } }

    /// `--start-at` as Unix seconds: a number, or ISO 8601 in UTC with a `Z` (fractions allowed).
    static func parseStartAt(_ text: String) throws(BenchError) -> Double {
        if let v = Double(text), v.isFinite, v > 0 { return v }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d.timeIntervalSince1970 }
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: text) { return d.timeIntervalSince1970 }
        throw .usage("--start-at '\(text)': expected Unix seconds or ISO 8601 (2026-12-07T17:30:00Z)")
    }

    /// Sets the shared start: the run's time axis begins at that wall-clock instant. At most a day
    /// ahead (a typo would otherwise wait for ever). A segment that comes up late (a slow pod)
    /// still keeps the shared axis: what was due is sent at once and shows as dispatch lag, so the
    /// run says how late it was; more than `latestStartS` late is an error (a stale instant).
    func applyStartAt(to o: inout EndpointOptions, now: Double = Date().timeIntervalSince1970) throws(BenchError) {
        guard let startAt else { return }
        let t = try EndpointFlags.parseStartAt(startAt)
        let wait = t - now
        guard wait >= -EndpointFlags.latestStartS else {
            throw .usage("--start-at \(startAt) is \(String(format: "%.3f", -wait)) s in the past (more than \(Int(EndpointFlags.latestStartS)) s)")
        }
        if wait < 0 {
            FileHandleWriter.write("accelbench: warning: starting \(String(format: "%.3f", -wait)) s after --start-at: requests already due go out at once (dispatch lag)\n", fd: 2)
        }
        guard wait <= 86_400 else { throw .usage("--start-at \(startAt) is more than a day ahead") }
        o.startAtUnixS = t
        o.startDelayS = wait
    }

    func options() throws(BenchError) -> EndpointOptions {
        var o = plainOptions()
        try applyStartAt(to: &o)
        if let note = o.h2cNote { FileHandleWriter.write("accelbench: note: \(note)\n", fd: 2) }
        if let tokenizer {
            o.tokenizer = try BPETokenizer(path: tokenizer)
            if promptFormat == "auto" { o.promptFormat = .text }
        }
        return o
    }
}

extension APIKind: ExpressibleByArgument {}
extension HTTPClientKind: ExpressibleByArgument {}
extension ServerKind: ExpressibleByArgument {}
