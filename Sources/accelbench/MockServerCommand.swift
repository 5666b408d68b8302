import ArgumentParser
import BenchCore
import Foundation
import Harness
import MockServer

struct MockServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock-server",
        abstract: "Serve a fake OpenAI-compatible model with configurable latencies and injected faults.",
        discussion: """
        Latencies are seconds: a number (fixed), fixed:S, uniform:LO:HI or exp:MEAN. Stops on Ctrl-C or SIGTERM.
        """)

    @Option(name: .long, help: "Address to listen on.")
    var host = "127.0.0.1"
    @Option(name: .long, help: "Port (0: any free port; the chosen one is printed).")
    var port = 8000
    @Option(name: .long, help: "Time to first token after the request is read.")
    var ttft = "0.02"
    @Option(name: .long, help: "Time between chunks.")
    var tbt = "0.01"
    @Option(name: .long, help: "Tokens per streamed chunk.")
    var tokensPerChunk = 1
    @Option(name: .long, help: "Share of each streamed chat reply sent first as reasoning (delta.reasoning_content), 0-1.")
    var reasoning: Double = 0
    @Flag(name: .long, help: "Never send usage, even when asked (like llama.cpp's server).")
    var noUsage = false
    @Option(name: .long, help: "Model names served (comma-separated).")
    var models = "mock"
    @Option(name: .long, help: "Probability per request of closing the connection mid-stream.")
    var dropConnection: Double = 0
    @Option(name: .long, help: "Probability per request of an HTTP 500.")
    var http500: Double = 0
    @Option(name: .long, help: "Probability per request of a malformed SSE event mid-stream.")
    var malformedSse: Double = 0
    @Option(name: .long, help: "Probability per request of a stall mid-stream.")
    var stall: Double = 0
    @Option(name: .long, help: "Length of a stall, seconds.")
    var stallSeconds: Double = 1
    @Option(name: .long, help: "Seed of the per-request draws.")
    var seed: UInt64 = 0

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard tokensPerChunk >= 1 else { throw ValidationError("--tokens-per-chunk must be ≥ 1") }
        for (flag, p) in [("--drop-connection", dropConnection), ("--http500", http500), ("--malformed-sse", malformedSse), ("--stall", stall), ("--reasoning", reasoning)] {
            guard (0...1).contains(p) else { throw ValidationError("\(flag) must be a probability in [0, 1]") }
        }
        guard stallSeconds >= 0 else { throw ValidationError("--stall-seconds must be ≥ 0") }
    }

    func run() throws {
        try guarded {
            var c = MockServerConfig()
            c.host = host
            c.port = port
            do { c.ttft = try MockLatency.parse(ttft) } catch { throw BenchError.usage("--ttft: \(error)") }
            do { c.tbt = try MockLatency.parse(tbt) } catch { throw BenchError.usage("--tbt: \(error)") }
            c.tokensPerChunk = tokensPerChunk
            c.reasoningFraction = reasoning
            c.usage = !noUsage
            c.models = models.split(separator: ",").map { String($0) }
            c.faults.dropConnection = dropConnection
            c.faults.http500 = http500
            c.faults.malformedSSE = malformedSse
            c.faults.stall = stall
            c.faults.stallSeconds = stallSeconds
            c.seed = seed
            // Block the stop signals before the server's thread starts (it inherits the mask), then wait for one.
            var set = Interrupt.blockStopSignals()
            let server = MockServer(c)
            let bound = try server.start()
            // Unbuffered, so a parent reading our stdout sees the port at once.
            FileHandleWriter.write("mock-server listening on http://\(host):\(bound) (models: \(c.models.joined(separator: ", ")))\n", fd: 1)
            var sig: Int32 = 0
            sigwait(&set, &sig)
            server.stop()
            let s = server.stats
            print("stopped: \(s.requests) requests, \(s.chunksSent) chunks, \(s.faultsInjected) faults injected")
        }
    }
}
