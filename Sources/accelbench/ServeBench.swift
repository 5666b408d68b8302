import ArgumentParser
import BenchCore
import Foundation
import LoadGen
#if canImport(Glibc)
import Glibc
#endif

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
            try guarded {
                let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
                let server = Process()
                let seqs = maxNumSeqs ?? streams
                let blocks = kvBlocks ?? streams * ((16 + tokens + 31) / 32 + 1)
                var args = ["serve", "--port", "0", "--policy", policy, "--profile", profile, "--model", "bench",
                            "--max-num-seqs", String(seqs), "--vllm-max-num-seqs", String(seqs), "--kv-blocks", String(blocks),
                            "--max-waiting", String(streams * 2), "--drain", "5"]
                if serverCpus.isEmpty {
                    server.executableURL = exe
                } else {
                    server.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
                    args = ["-c", serverCpus, exe.path] + args
                }
                server.arguments = args
                let out = Pipe()
                server.standardOutput = out
                server.standardError = FileHandle.nullDevice
                try server.run()
                let reader = out.fileHandleForReading
                var text = ""
                while !text.contains("\n") {
                    let d = reader.availableData
                    if d.isEmpty { break }
                    text += String(decoding: d, as: UTF8.self)
                }
                guard let r = text.range(of: "127.0.0.1:"), let port = Int(text[r.upperBound...].prefix { $0.isNumber }) else {
                    server.terminate()
                    throw BenchError.io("serve", "no port in '\(text)'")
                }
                let reqs = (0..<streams).map {
                    WorkloadRequest(id: $0, arrivalS: spread * Double($0) / Double(streams), className: "bench", promptTokens: 16, outputTokens: tokens)
                }
                var o = EndpointOptions(url: "http://127.0.0.1:\(port)", request: OpenAIRequestOptions(model: "bench"))
                o.startDelayS = 0.2
                o.maxLagMs = 1000
                o.connectTimeoutS = 30
                let cpu0 = ServeBench.processCPU(server.processIdentifier)
                let t0 = monotonicSeconds()
                var ok = 0, failed = 0, events = 0
                var failures: [String: Int] = [:]
                var maxGap = 0.0
                _ = try EndpointRunner(options: o, requests: reqs).run(onRecord: { rec in
                    if rec.isOK { ok += 1 } else { failed += 1; failures[rec.status, default: 0] += 1 }
                    events += rec.tokenTimesS.count
                    for (a, b) in zip(rec.tokenTimesS, rec.tokenTimesS.dropFirst()) { maxGap = max(maxGap, b - a) }
                }, shouldStop: { false })
                let wall = monotonicSeconds() - t0 - o.startDelayS
                let cpu = ServeBench.processCPU(server.processIdentifier) - cpu0
                server.terminate()
                var rest = text
                while true {
                    let d = reader.availableData
                    if d.isEmpty { break }
                    rest += String(decoding: d, as: UTF8.self)
                }
                server.waitUntilExit()
                let stopped = rest.split(separator: "\n").first { $0.hasPrefix("stopped:") } ?? "stopped: (no line)"
                if !failures.isEmpty { print("failures: " + failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) }
                print(String(format: "serve: %d streams x %d tokens (%@, max-num-seqs %d): %d ok, %d failed; %d tokens in %.2f s (%.0f tokens/s); server CPU %.2f s = %.2f µs per streamed token (%.0f%% of one core); largest client-seen gap between tokens %.1f ms",
                             streams, tokens, policy, seqs, ok, failed, events, wall, Double(events) / wall, cpu,
                             events > 0 ? cpu / Double(events) * 1e6 : 0, cpu / wall * 100, maxGap * 1000))
                print("server " + stopped)
            }
        }

        /// utime + stime of a process, seconds (/proc/PID/stat fields 14 and 15).
        static func processCPU(_ pid: Int32) -> Double {
            guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = s.lastIndex(of: ")") else { return 0 }
            let fields = s[s.index(after: close)...].split(separator: " ")
            guard fields.count > 13, let u = Double(fields[11]), let k = Double(fields[12]) else { return 0 }
            return (u + k) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
    }
}
