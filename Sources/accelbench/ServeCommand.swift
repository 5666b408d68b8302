import ArgumentParser
import BenchCore
import Engine
import Foundation
import Harness
import Models
import Server

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the bundled engine behind an OpenAI-compatible HTTP/SSE API.",
        discussion: """
        Endpoints: GET /v1/models, POST /v1/completions and /v1/chat/completions (streaming SSE or not), GET /health, \
        GET /metrics (Prometheus). The engine runs the same policies as `run --engine sim`, in real time: each iteration \
        lasts the profile's predicted time, or with --engine cpu (cuda), the time the real model takes on this machine's CPU \
        (on its NVIDIA GPU).

        With --engine cpu or cuda the model is real: prompts are tokenized with its tokenizer, chat messages go through its \
        chat template (ChatML), output is sampled (temperature, top_p, top_k, seed; temperature 1 by default) and \
        stops at its end-of-turn tokens unless ignore_eos (min_tokens is honoured).

        On the simulated GPU, prompts are token-id arrays or text; text is counted one token per whitespace-separated word (the documented \
        deterministic tokenizer; accelbench's own text prompts are built that way). Outputs are deterministic words \
        from a 32-word vocabulary, exactly max_tokens of them (the model never stops early; ignore_eos is accepted).

        SLO hints: body field "slo": {"ttft_ms", "tbt_ms", "jct_s", "class"}, or headers x-slo-ttft-ms and \
        x-slo-tpot-ms; the --default-* flags apply to requests without them. SIGTERM or Ctrl-C: stop accepting, \
        let requests in flight finish for --drain seconds, abort the rest, exit 0.
        """)

    @OptionGroup var engineFlags: EngineFlags
    @Option(name: .long, help: "Scheduling policy: \(PolicyName.list).")
    var policy = "accelgen"
    @OptionGroup var policyFlags: PolicyFlags

    @Option(name: .long, help: "Address to listen on.")
    var host = "127.0.0.1"
    @Option(name: .long, help: "Port (0: any free port; the chosen one is printed).")
    var port = 8000
    @Option(name: .long, help: "Model name(s) served, comma-separated (default: the profile's model).")
    var model: String?
    @Option(name: .long, help: "Waiting requests beyond which new ones get 429 with Retry-After.")
    var maxWaiting = 1024
    @Option(name: .long, help: "Seconds a 429 reply's Retry-After asks for.")
    var retryAfter = 1
    @Option(name: .long, help: "Largest request body in bytes (413 beyond).")
    var maxBodyBytes = 4 << 20
    @Option(name: .long, help: "After SIGTERM or Ctrl-C, seconds requests in flight get before they are aborted.")
    var drain: Double = 30
    @Option(name: .long, help: "TTFT SLO (ms) for requests that give none.")
    var defaultTtftMs: Double?
    @Option(name: .long, help: "TBT SLO (ms) for requests that give none.")
    var defaultTbtMs: Double?
    @Option(name: .long, help: "Job completion time SLO (s) for requests that give none.")
    var defaultJctS: Double?
    @Option(name: .long, help: "Class of requests that name none.")
    var defaultClass = "default"

    @Option(name: .long, help: "Seconds a connection may sit with no request in progress (a half-sent request head included) before it is closed.")
    var connectionIdleTimeout = 30.0
    @Option(name: .long, help: "Connections served at once; more wait in the listen backlog (default: 4096, or the descriptor limit less 64).")
    var maxConnections = ServeConfig.defaultMaxConnections

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        if let problem = config(model: model ?? "default").problem { throw ValidationError(problem) }
    }

    func config(model: String) -> ServeConfig {
        var config = ServeConfig(modelNames: model.split(separator: ",").map { String($0) })
        config.maxWaiting = maxWaiting
        config.retryAfterS = retryAfter
        config.maxBodyBytes = maxBodyBytes
        config.drainS = drain
        config.defaultSLO = SLO(ttftMs: defaultTtftMs, tbtMs: defaultTbtMs, jctS: defaultJctS)
        config.defaultClass = defaultClass
        config.connectionIdleTimeoutS = connectionIdleTimeout
        config.maxConnections = maxConnections
        return config
    }

    func run() throws {
        try guarded {
            let policyName = try PolicyName.parse(policy)
            try policyFlags.check(policyName)
            let real = try realEngine(policyName)
            let profile = try real?.profile ?? engineFlags.resolveProfile()
            let text = try real.map { (r: RealEngine) throws(BenchError) -> ServedText in
                guard let tokenizer = r.tokenizer else {
                    throw BenchError.usage("serve --engine \(engineFlags.engine) needs a model with a tokenizer (a GGUF file or a Hugging Face directory), not --synthetic-weights")
                }
                return ServedText(tokenizer: tokenizer, chatTemplate: r.chatTemplate)
            }
            let config = config(model: model ?? real.map { ModelNames.short($0.modelName) } ?? profile.model.name)
            // Stop signals are blocked before any thread starts (threads inherit the mask) and
            // taken by one thread with sigwait.
            let set = Interrupt.blockStopSignals()
            let backend: any ExecutionBackend = real?.makeBackend()
                ?? SimulatedBackend(profile: profile, jitterCV: engineFlags.jitterCV, seed: engineFlags.jitterSeed)
            let server = ServeServer(profile: profile, policy: policyName.make(policyFlags.options, profile: profile), backend: backend,
                                     config: config, prefixCaching: engineFlags.prefixCaching, text: text)
            let names = config.modelNames.joined(separator: ", ")
            let (host, drain) = (self.host, self.drain)
            do {
                try server.runUntilSignalled(host: host, port: port, stopSignals: set, onListening: { bound in
                    FileHandleWriter.write("accelbench serve listening on http://\(host):\(bound) (model \(names), profile \(profile.name), policy \(policyName.rawValue))\n", fd: 1)
                }, onSignal: { sig in
                    FileHandleWriter.write("accelbench serve: \(sig == SIGTERM ? "SIGTERM" : "SIGINT"): draining (up to \(drain) s)\n", fd: 2)
                })
            } catch {
                throw BenchError.io("\(host):\(port)", "\(error)")
            }
            print(server.loop.snapshot.stoppedLine)
        }
    }
}

/// What `serve` needs of a real engine (cpu or cuda): its profile, text handling and backend.
struct RealEngine {
    var profile: HardwareProfile
    var modelName: String
    var tokenizer: ModelTokenizer?
    var chatTemplate: ChatTemplate?
    var makeBackend: () -> any ExecutionBackend
}

extension ServeCommand {
    func realEngine(_ policy: PolicyName) throws(BenchError) -> RealEngine? {
        switch engineFlags.engine {
        case "cpu":
            let t = try engineFlags.cpuTarget(policy, policyFlags.options)
            return RealEngine(profile: t.profile, modelName: t.model.name, tokenizer: t.model.tokenizer, chatTemplate: t.model.chatTemplate,
                              makeBackend: { t.makeBackend() })
        case "cuda":
            let t = try engineFlags.cudaTarget(policy, policyFlags.options)
            return RealEngine(profile: t.profile, modelName: t.modelName, tokenizer: t.tokenizer, chatTemplate: t.chatTemplate,
                              makeBackend: { t.makeBackend() })
        default:
            return nil
        }
    }
}
