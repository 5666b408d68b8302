import ArgumentParser
import Benchmarks

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
            try guarded { for line in try SelfBenchmarks.endpoint(mode: mode, streams: streams, tokens: tokens, rate: rate, seconds: seconds, tbt: tbt, url: url) { print(line) } }
        }
    }
}
