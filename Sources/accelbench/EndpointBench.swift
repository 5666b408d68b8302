import ArgumentParser
import BenchCore
import Foundation
import LoadGen
import MockServer

extension Bench {
    /// The load generator against the in-process mock server (its own thread; the client runs on
    /// this one): SSE event throughput, dispatch lag at a fixed rate, and many concurrent streams.
    struct EndpointBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "endpoint",
            abstract: "Self-benchmark of the HTTP/SSE client against the mock server on loopback.",
            discussion: """
            events:  --streams concurrent requests of --tokens one-token chunks, no server delays: SSE events/s received.
            lag:     open-loop --rate requests/s for --seconds, short replies: dispatch lag p50/p99/max.
            streams: --streams requests sent over one second, each streaming --tokens tokens with --tbt seconds between them.
            """)

        @Option(name: .long, help: "events, lag or streams.")
        var mode = "events"
        @Option(name: .long, help: "Concurrent streams (events, streams).")
        var streams = 100
        @Option(name: .long, help: "Output tokens per request.")
        var tokens = 1000
        @Option(name: .long, help: "Requests per second (lag).")
        var rate: Double = 1000
        @Option(name: .long, help: "Duration in seconds (lag).")
        var seconds: Double = 5
        @Option(name: .long, help: "Seconds between chunks (streams).")
        var tbt: Double = 0.05
        @Option(name: .long, help: "Use this mock server (e.g. `accelbench mock-server` in another process, started with matching --tbt) instead of an in-process one: client and server then each have the process's descriptor limit.")
        var url: String?

        func run() throws {
            try guarded {
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
                    print(String(format: "events: %d streams x %d tokens: %.0f SSE events/s received; client thread %.0f%% of a core; %d ok, %d failed",
                                 streams, tokens, Double(events) / wall, outcome.cpuShare * 100, ok, failed))
                case "lag":
                    print(String(format: "lag: %.0f req/s for %.0f s: dispatch lag p50 %.3f ms, p99 %.3f ms, max %.3f ms; achieved %.1f req/s; %d ok, %d failed; client thread %.0f%%",
                                 rate, seconds, outcome.lagP50Ms, outcome.lagP99Ms, outcome.lagMaxMs, outcome.achievedRate, ok, failed, outcome.cpuShare * 100))
                default:
                    if !failures.isEmpty { print("failures: " + failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) }
                    print(String(format: "streams: %d concurrent streams of %d tokens at %.0f ms: %d ok, %d failed in %.1f s; %.0f events/s",
                                 streams, tokens, tbt * 1000, ok, failed, wall, Double(events) / wall))
                }
            }
        }
    }
}
