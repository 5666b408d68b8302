import BenchCore
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Models
import NIOCore
import OpenAIWire
import NIOConcurrencyHelpers
import ServiceLifecycle

/// `accelbench serve`'s settings; every default has a reason in its doc.
public struct ServeConfig: Sendable {
    /// Model names served; requests must name one of them (or none: the first).
    public var modelNames: [String]
    /// Waiting requests (engine queue + not yet admitted) beyond which new ones get 429
    /// (default 1,024, our choice: about a minute of queue at the default profile's capacity).
    public var maxWaiting = 1024
    /// Seconds a 429 asks the client to wait (Retry-After).
    public var retryAfterS = 1
    /// Request bodies over this many bytes get 413 (default 4 MiB, our choice: a 128k-token
    /// prompt as token ids is about 0.9 MB).
    public var maxBodyBytes = 4 << 20
    /// After SIGTERM, seconds in-flight requests get before they are aborted (default 30 s).
    public var drainS = 30.0
    /// SLOs for requests that give none (body `slo` or `x-slo-*` headers).
    public var defaultSLO = SLO()
    /// Class of requests that name none.
    public var defaultClass = "default"
    /// Seconds a connection may sit with no request in progress, a request head half sent
    /// included, before it is closed (30 s, our choice: a benchmark client's keep-alive gaps
    /// are far shorter, and a slow-header client then holds a descriptor at most this long).
    public var connectionIdleTimeoutS = 30.0
    /// Connections served at once; more wait in the listen backlog until one closes (default:
    /// 4,096, or the process's descriptor limit less 64 when that is lower, so the server
    /// never runs out of descriptors to answer with).
    public var maxConnections = ServeConfig.defaultMaxConnections

    public static var defaultMaxConnections: Int { FileIO.connectionLimit() }

    public init(modelNames: [String]) {
        self.modelNames = modelNames
    }

    /// What makes this configuration unusable, naming the flag; nil when it is fine.
    public var problem: String? {
        if modelNames.isEmpty || modelNames.contains(where: \.isEmpty) { return "--model must name at least one model" }
        if maxWaiting < 1 { return "--max-waiting must be ≥ 1" }
        if retryAfterS < 0 { return "--retry-after must be ≥ 0" }
        if maxBodyBytes < 1024 { return "--max-body-bytes must be ≥ 1024" }
        if !(drainS >= 0 && drainS.isFinite) { return "--drain must be ≥ 0 seconds" }
        for (flag, v) in [("--default-ttft-ms", defaultSLO.ttftMs), ("--default-tbt-ms", defaultSLO.tbtMs), ("--default-jct-s", defaultSLO.jctS)] {
            if let v, !(v > 0 && v.isFinite) { return "\(flag) must be > 0" }
        }
        if !(connectionIdleTimeoutS > 0 && connectionIdleTimeoutS.isFinite) { return "--connection-idle-timeout must be > 0 seconds" }
        if maxConnections < 1 { return "--max-connections must be ≥ 1" }
        return nil
    }
}

/// An error reply in OpenAI's shape, as Hummingbird's error type.
struct OpenAIErrorReply: HTTPResponseError {
    let error: APIError
    var extraHeaders: HTTPFields = [:]

    var status: HTTPResponse.Status { HTTPResponse.Status(code: error.status) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var h = extraHeaders
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(bytes: error.body)))
    }
}

extension HTTPField.Name {
    static let xSloTTFTMs = HTTPField.Name("x-slo-ttft-ms")!
    static let xSloTPOTMs = HTTPField.Name("x-slo-tpot-ms")!
    static let xRequestID = HTTPField.Name("x-request-id")!
}

/// Turns router misses and Hummingbird's own errors into OpenAI-style JSON bodies, and answers
/// 405 for a known path with the wrong method.
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let methods: [String: HTTPRequest.Method]
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as OpenAIErrorReply {
            metrics.httpError(e.error.status)
            throw e
        } catch let e as any HTTPResponseError {
            var reply: OpenAIErrorReply
            switch e.status {
            case .notFound where context.endpointPath == "NotFound":
                if let m = methods[request.uri.path] {
                    reply = OpenAIErrorReply(error: APIError(status: 405, message: "Method \(request.method.rawValue) not allowed on \(request.uri.path); use \(m.rawValue)",
                                                             type: "invalid_request_error", param: nil),
                                             extraHeaders: [.allow: m.rawValue])
                } else {
                    reply = OpenAIErrorReply(error: APIError(status: 404, message: "Not found: \(request.uri.path)", type: "invalid_request_error", param: nil))
                }
            case .contentTooLarge:
                reply = OpenAIErrorReply(error: APIError(status: 413, message: "request body too large", type: "invalid_request_error", param: nil))
            default:
                reply = OpenAIErrorReply(error: APIError(status: Int(e.status.code), message: e.status.reasonPhrase, type: "invalid_request_error", param: nil))
            }
            metrics.httpError(reply.error.status)
            throw reply
        }
    }
}

/// The bundled engine behind an OpenAI-compatible HTTP/SSE server (Hummingbird). The engine runs
/// on its own thread (`RealTimeDriver`); handlers submit requests and stream the tokens it emits.
public final class ServeServer: Sendable {
    public let loop: RealTimeDriver
    public let metrics: ServerMetrics
    public let config: ServeConfig
    let rules: ValidationRules
    let blockSizeTokens: Int
    let kvTotalBlocks: Int
    let contextTokens: Int
    let modelsBody: [UInt8]
    /// A real model's tokenizer and chat template (nil: the simulated GPU's word tokens).
    let text: ServedText?
    /// With prefix caching: the prompts' prefix groups (nil: caching off).
    let prefixIndex: PrefixIndex?
    private let group = NIOLockedValueBox<ServiceGroup?>(nil)
    private let shutdownRequested = NIOLockedValueBox(false)

    public init(profile: HardwareProfile, policy: SchedulingPolicy, backend: any ExecutionBackend, config: ServeConfig,
                prefixCaching: Bool = false, checkInvariants: Bool = false, text: ServedText? = nil) {
        self.text = text
        prefixIndex = prefixCaching ? PrefixIndex(blockSizeTokens: profile.blockSizeTokens) : nil
        let engine = EngineCore(profile: profile, policy: policy, prefixCaching: prefixCaching)
        metrics = ServerMetrics(modelName: config.modelNames.first ?? "accelbench")
        loop = RealTimeDriver(engine: engine, backend: backend, clock: MonotonicClock(), observer: metrics, checkInvariants: checkInvariants)
        self.config = config
        var rules = ValidationRules(models: config.modelNames)
        rules.contextTokens = profile.model.maxContextTokens
        rules.sloHints = true
        if let text {
            let vocab = profile.model.vocabSize
            rules.tokenize = { text.tokenize($0, vocabSize: vocab) }
        }
        self.rules = rules
        blockSizeTokens = profile.blockSizeTokens
        kvTotalBlocks = profile.kvCapacityBlocks
        contextTokens = profile.model.maxContextTokens
        var w = JSONWriter(reservingCapacity: 256)
        w.beginObject()
        w.key("object"); w.string("list")
        w.key("data")
        w.beginArray()
        for name in config.modelNames {
            w.beginObject()
            w.key("id"); w.string(name)
            w.key("object"); w.string("model")
            w.key("created"); w.int(0)
            w.key("owned_by"); w.string("accelbench")
            w.key("max_model_len"); w.int(profile.model.maxContextTokens)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        modelsBody = w.bytes
        loop.start()
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: OpenAIErrorMiddleware(methods: ["/v1/models": .get, "/health": .get, "/metrics": .get,
                                                               "/v1/completions": .post, "/v1/chat/completions": .post],
                                                     metrics: metrics))
        router.get("/health") { [self] _, _ -> Response in
            if shutdownRequested.withLockedValue({ $0 }) {
                return Response(status: .serviceUnavailable, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: ByteBuffer(string: "draining")))
            }
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: ByteBuffer(string: "ok")))
        }
        router.get("/v1/models") { [self] _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: modelsBody)))
        }
        router.get("/metrics") { [self] _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.text())))
        }
        router.post("/v1/completions") { [self] request, _ -> Response in try await generate(request, endpoint: .completions) }
        router.post("/v1/chat/completions") { [self] request, _ -> Response in try await generate(request, endpoint: .chat) }
        return router
    }

    func fail(_ e: APIError, headers: HTTPFields = [:]) -> OpenAIErrorReply {
        OpenAIErrorReply(error: e, extraHeaders: headers)
    }

    /// The SLO of a request: server defaults, overridden by `x-slo-*` headers, overridden by the
    /// body's `slo` object.
    func slo(_ g: GenRequest, headers: HTTPFields) throws(OpenAIErrorReply) -> SLO {
        var slo = config.defaultSLO
        for (name, key) in [(HTTPField.Name.xSloTTFTMs, "x-slo-ttft-ms"), (.xSloTPOTMs, "x-slo-tpot-ms")] {
            guard let v = headers[name] else { continue }
            guard let d = Double(v.trimmingCharacters(in: .whitespaces)), d > 0, d.isFinite else {
                throw fail(.invalid("header \(key) must be a positive number of milliseconds, got '\(v)'", param: key))
            }
            if name == .xSloTTFTMs { slo.ttftMs = d } else { slo.tbtMs = d }
        }
        if let x = g.slo.ttftMs { slo.ttftMs = x }
        if let x = g.slo.tbtMs { slo.tbtMs = x }
        if let x = g.slo.jctS { slo.jctS = x }
        return slo
    }

    func generate(_ request: Request, endpoint: Endpoint) async throws -> Response {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: config.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw fail(APIError(status: 413, message: "request body exceeds \(config.maxBodyBytes) bytes", type: "invalid_request_error", param: nil))
        }
        let bytes = [UInt8](buffer: buffer)
        let g: GenRequest
        switch bytes.withUnsafeBufferPointer({ RequestValidator.validate($0, endpoint: endpoint, rules: rules) }) {
        case .failure(let e): throw fail(e)
        case .success(let x): g = x
        }
        let slo = try slo(g, headers: request.headers)
        let blocks = (g.promptTokens + g.maxTokens + blockSizeTokens - 1) / blockSizeTokens
        if blocks > kvTotalBlocks {
            throw fail(.invalid("prompt + max_tokens = \(g.promptTokens + g.maxTokens) tokens need \(blocks) KV blocks; the cache holds \(kvTotalBlocks)",
                                param: "max_tokens"))
        }
        if loop.waitingPlusInbox >= config.maxWaiting {
            throw fail(APIError(status: 429, message: "too many waiting requests (--max-waiting \(config.maxWaiting))", type: "rate_limit_error", param: nil),
                       headers: [.retryAfter: String(config.retryAfterS)])
        }
        let (stream, continuation) = AsyncStream.makeStream(of: TokenEvent.self, bufferingPolicy: .unbounded)
        let tokens = text.map { $0.requestTokens(g) }
        let prefix = prefixIndex?.place(g.promptIDs.map { $0.map(Int.init) } ?? PrefixIndex.tokens(of: g.prompt)).map {
            (group: $0.group, reuse: min($0.reuse, g.promptTokens), register: min($0.register, g.promptTokens))
        }
        let submitted = loop.submit(className: g.sloClass ?? config.defaultClass, promptTokens: g.promptTokens, maxOutputTokens: g.maxTokens,
                                    slo: slo, tokens: tokens, prefix: prefix) { event in
            continuation.yield(event)
            if case .finished = event { continuation.finish() }
        }
        guard let served = submitted else {
            throw fail(APIError(status: 503, message: "the server is shutting down", type: "server_error", param: nil))
        }
        let encoder = ChunkEncoder(endpoint: endpoint, id: (endpoint == .chat ? "chatcmpl-" : "cmpl-") + String(served.id),
                                   created: Int(Date().timeIntervalSince1970), model: g.model, promptTokens: g.promptTokens,
                                   continuousUsage: g.continuousUsage, vocabOffset: Int(g.promptDigest & 31))
        var headers: HTTPFields = [:]
        if let rid = request.headers[.xRequestID] { headers[.xRequestID] = rid }
        if let text, let tokens {
            if !g.stream { return try await text.completeResponse(stream, tokens: tokens, encoder: encoder, headers: headers) }
            return text.streamingResponse(stream, served: served, tokens: tokens, request: g, encoder: encoder, headers: headers, loop: loop)
        }
        if !g.stream { return try await completeResponse(stream, encoder: encoder, headers: headers) }
        return streamingResponse(stream, served: served, request: g, encoder: encoder, headers: headers)
    }

    /// A non-streamed reply: the whole output at once.
    func completeResponse(_ stream: AsyncStream<TokenEvent>, encoder: ChunkEncoder, headers: HTTPFields) async throws -> Response {
        var headers = headers
        do {
            // Wait for the whole output. A client whose side of the connection closed is still
            // answered: TCP cannot tell a half-close (shutdown(SHUT_WR), as some clients send
            // after the body) from a close, and a closed one only costs the engine the work.
            var count = 0
            var reason = FinishReason.aborted
            var message: String?
            for await e in stream {
                switch e {
                case .token: count += 1
                case .finished(let r, let m): reason = r; message = m
                }
            }
            guard reason == .completed else { throw fail(ServeServer.engineError(reason, message)) }
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: encoder.body(completion: count))))
        }
    }

    /// A streamed reply: one SSE event per token as the engine produces it.
    func streamingResponse(_ stream: AsyncStream<TokenEvent>, served: ServedRequest, request g: GenRequest, encoder: ChunkEncoder,
                           headers: HTTPFields) -> Response {
        var headers = headers
        let loop = self.loop
        let endpoint = g.endpoint
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        let includeUsage = g.includeUsage
        let maxTokens = g.maxTokens
        // A client that goes away is noticed when a write fails (the next token or two after the
        // disconnect); the request is then aborted and its KV blocks freed. Hummingbird's
        // inbound-close handler would notice sooner but closes every such connection after the
        // response, and benchmark clients rely on keep-alive.
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            do {
                do {
                    var scratch: [UInt8] = []
                    var out = ByteBuffer()
                    for await e in stream {
                        out.clear()
                        switch e {
                        case .token(let i, _, _):
                            if endpoint == .chat && i == 0 {
                                encoder.role(into: &scratch)
                                out.writeBytes(scratch)
                            }
                            encoder.content(into: &scratch, start: i, count: 1, final: i == maxTokens - 1)
                            out.writeBytes(scratch)
                        case .finished(let reason, let message):
                            if reason == .completed {
                                if includeUsage {
                                    encoder.usage(into: &scratch, completion: maxTokens)
                                    out.writeBytes(scratch)
                                }
                            } else {
                                ServeServer.writeErrorEvent(reason, message, into: &out)
                            }
                            out.writeString("data: [DONE]\n\n")
                        }
                        try await writer.write(out)
                    }
                }
                try await writer.finish(nil)
            } catch {
                loop.abort(served, reason: "client disconnected")
                throw error
            }
        })
    }

    /// The SSE event that ends a stream the engine did not complete.
    static func writeErrorEvent(_ reason: FinishReason, _ message: String?, into out: inout ByteBuffer) {
        out.writeString("data: ")
        out.writeBytes(engineError(reason, message).body)
        out.writeString("\n\n")
    }

    static func engineError(_ reason: FinishReason, _ message: String?) -> APIError {
        switch reason {
        case .rejected: return APIError(status: 400, message: message ?? "rejected by the engine", type: "invalid_request_error", param: nil)
        default: return APIError(status: 503, message: message ?? "aborted", type: "server_error", param: nil)
        }
    }

    /// Serves until `shutdown()` (or a signal the caller turns into it). `onBound` gets the port.
    public func run(host: String, port: Int, onBound: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var logger = Logger(label: "accelbench.serve")
        logger.logLevel = .warning
        let idle = TimeAmount.nanoseconds(Int64(config.connectionIdleTimeoutS * 1e9))
        let app = Application(router: router(),
                              server: .http1(configuration: .init(idleTimeout: idle)),
                              configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "accelbench",
                                                                      availableConnectionsDelegate: MaximumAvailableConnections(config.maxConnections)),
                              onServerRunning: { channel in onBound(channel.localAddress?.port ?? port) },
                              logger: logger)
        let g = ServiceGroup(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        let early = group.withLockedValue { box -> Bool in
            box = g
            return shutdownRequested.withLockedValue { $0 }
        }
        if early { await g.triggerGracefulShutdown() }
        defer { loop.stop() }
        try await g.run()
    }

    /// Stops accepting connections; requests in flight get `config.drainS` seconds, then are
    /// aborted; `run` then returns.
    public func shutdown() async {
        shutdownRequested.withLockedValue { $0 = true }
        loop.beginDrain(seconds: config.drainS)
        if let g = group.withLockedValue({ $0 }) { await g.triggerGracefulShutdown() }
    }
}
