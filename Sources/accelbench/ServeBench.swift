import ArgumentParser
import Benchmarks

extension Bench {
    /// `accelbench serve` under load from accelbench's own client: the server's CPU time per
    /// streamed token, and whether its engine loop stays on schedule with many open streams.
    /// The server is a separate process (this binary's `serve`), so its CPU time is its own.
    struct ServeBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Self-benchmark of `accelbench serve`: server CPU per streamed token, concurrent streams.",
            discussion: """
            --streams requests are sent over --spread seconds, each a 16-token prompt streaming --tokens tokens. The \
            server runs --policy with --max-num-seqs and --kv-blocks raised so that every stream can run at once. \
            Pin the two with --server-cpus / --client-cpus (taskset lists) on a 2-core machine.
            """)

        @Option(name: .long, help: "Concurrent streams.")
        var streams = 2000
        @Option(name: .long, help: "Output tokens per stream.")
        var tokens = 64
        @Option(name: .long, help: "Seconds over which the streams are opened.")
        var spread: Double = 1
        @Option(name: .long, help: "Server policy.")
        var policy = "sarathi"
        @Option(name: .long, help: "Server --max-num-seqs (default: --streams).")
        var maxNumSeqs: Int?
        @Option(name: .long, help: "Server --kv-blocks (default: enough for every stream).")
        var kvBlocks: Int?
        @Option(name: .long, help: "Hardware profile of the server.")
        var profile = "h100-llama2-7b"
        @Option(name: .long, help: "CPUs for the server process (taskset list, e.g. 0); empty: no pinning.")
        var serverCpus = ""

        func run() throws {
            try guarded { for line in try SelfBenchmarks.serve(streams: streams, tokens: tokens, spread: spread, policy: policy, maxNumSeqs: maxNumSeqs, kvBlocks: kvBlocks, profile: profile, serverCpus: serverCpus) { print(line) } }
        }
    }
}
