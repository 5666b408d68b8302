#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import BenchCore
import OpenAIWire

/// One response in progress on a connection (streaming or not).
final class ResponseState {
    let endpoint: Endpoint
    let stream: Bool
    let chunked: Bool
    let keepAlive: Bool
    let maxTokens: Int
    let tokensPerChunk: Int
    /// Leading tokens sent as `reasoning_content` (chat streams only; 0 otherwise).
    let reasoningTokens: Int
    let numChunks: Int
    let promptTokens: Int
    let includeUsage: Bool
    let continuousUsage: Bool
    let encoder: ChunkEncoder
    let id: String
    let model: String
    let created: Int
    var rng: SeededRNG
    var emittedTokens = 0
    var emittedChunks = 0
    var roleSent = false
    var nextDue: UInt64 = 0
    /// Waiting for the socket to drain before producing more.
    var blocked = false
    /// Close the connection right after this many token chunks (-1: no drop).
    var dropAfter = -1
    /// Insert a non-JSON data line before token chunk with this index (-1: none).
    var malformedAt = -1
    /// Stall before token chunk with this index (-1: none).
    var stallAt = -1
    var requestID: String?

    init(endpoint: Endpoint, stream: Bool, chunked: Bool, keepAlive: Bool, req: GenRequest, tokensPerChunk: Int,
         reasoningFraction: Double = 0, id: String, created: Int, rng: SeededRNG) {
        self.endpoint = endpoint
        self.stream = stream
        self.chunked = chunked
        self.keepAlive = keepAlive
        self.maxTokens = req.maxTokens
        self.tokensPerChunk = tokensPerChunk
        let reasoning = endpoint == .chat && stream ? Int((reasoningFraction * Double(req.maxTokens)).rounded(.down)) : 0
        self.reasoningTokens = reasoning
        // A chunk never mixes reasoning and answer tokens.
        self.numChunks = (reasoning + tokensPerChunk - 1) / tokensPerChunk
            + (req.maxTokens - reasoning + tokensPerChunk - 1) / tokensPerChunk
        self.promptTokens = req.promptTokens
        self.includeUsage = req.includeUsage
        self.continuousUsage = req.continuousUsage
        self.id = id
        self.model = req.model
        self.created = created
        self.rng = rng
        encoder = ChunkEncoder(endpoint: endpoint, id: id, created: created, model: req.model, promptTokens: req.promptTokens,
                               continuousUsage: req.continuousUsage)
    }
}

final class Connection {
    let fd: Int32
    let slot: Int32
    let serial: UInt32
    var inBuf: [UInt8] = []
    /// Bytes of `inBuf` already searched for the end of the head.
    var scanned = 0
    var head: RequestHead?
    var headLen = 0
    var sentContinue = false
    var out: [UInt8] = []
    var outStart = 0
    var writeArmed = false
    var dirty = false
    var response: ResponseState?
    var timerToken: UInt32 = 0
    /// No more requests: close once the output has drained.
    var closing = false
    /// Output shut down; reading and discarding until the peer closes or the linger timer fires.
    var lingering = false
    var closed = false

    init(fd: Int32, slot: Int32, serial: UInt32) {
        self.fd = fd
        self.slot = slot
        self.serial = serial
    }

    var outPending: Int { out.count - outStart }
}

/// The event loop: owns the listening socket, the epoll instance, the timerfd and every
/// connection. Runs on one thread; nothing here is touched by any other thread except `shared`.
final class EventLoop {
    static let tagListen: UInt64 = 0
    static let tagTimer: UInt64 = 1
    static let tagWake: UInt64 = 2
    /// Stop producing chunks for a stream while this much output is waiting for the socket.
    static let highWater = 256 * 1024
    static let lingerNanos: UInt64 = 2_000_000_000
    /// Most chunks one stream produces per wake-up (fairness when TBT is zero).
    static let chunksPerStep = 1024
    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    static let maxEvents = 1024

    let config: MockServerConfig
    let rules: ValidationRules
    let shared: Locked<MockServerStats>
    let epfd: Int32
    let listenFD: Int32
    let timerFD: Int32
    let wakeFD: Int32

    var conns: ContiguousArray<Connection?> = []
    var freeSlots: [Int32] = []
    var nextSerial: UInt32 = 1
    var nextToken: UInt32 = 1
    var heap = TimerHeap()
    var due: [TimerEntry] = []
    var dirtyList: [Int32] = []
    var delta = MockServerStats()
    var deltaDirty = false
    var requestCounter: UInt64 = 0
    var scratch: [UInt8] = []
    let readBuf: UnsafeMutableRawBufferPointer
    let events: EpollEvents
    let sys: Linux.Functions
    var armedDeadline: UInt64 = 0
    var stopping = false
    var acceptPaused = false
    let stallNanos: UInt64
    let modelsBody: [UInt8]

    init(sys: Linux.Functions, config: MockServerConfig, shared: Locked<MockServerStats>, epfd: Int32, listenFD: Int32, timerFD: Int32, wakeFD: Int32) {
        self.sys = sys
        self.config = config
        var rules = ValidationRules(models: config.models, defaultMaxTokens: config.defaultMaxTokens)
        rules.usage = config.usage
        self.rules = rules
        self.shared = shared
        self.epfd = epfd
        self.listenFD = listenFD
        self.timerFD = timerFD
        self.wakeFD = wakeFD
        self.readBuf = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        self.events = EpollEvents(capacity: EventLoop.maxEvents)
        self.stallNanos = UInt64(min(config.faults.stallSeconds, 1e6) * 1e9)
        scratch.reserveCapacity(4096)
        var w = JSONWriter()
        w.beginObject()
        w.key("object"); w.string("list")
        w.key("data")
        w.beginArray()
        let now = Int(time(nil))
        for m in config.models {
            w.beginObject()
            w.key("id"); w.string(m)
            w.key("object"); w.string("model")
            w.key("created"); w.int(now)
            w.key("owned_by"); w.string("accelbench")
            w.key("root"); w.string(m)
            w.key("parent"); w.null()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        modelsBody = w.bytes
    }

    deinit {
        readBuf.deallocate()
        events.deallocate()
    }

    // MARK: main loop

    func run() {
        while !stopping {
            // Block until the next timer (via the timerfd) unless one is already due.
            var timeout: Int32 = -1
            if let top = heap.top, top.deadline <= monotonicNanos() {
                timeout = 0
            } else {
                armTimer()
            }
            let n = sys.epollWait(epfd, events.raw, Int32(EventLoop.maxEvents), timeout)
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            for i in 0..<Int(n) {
                let tag = events.data(i)
                let flags = events.events(i)
                switch tag {
                case EventLoop.tagListen: acceptAll()
                case EventLoop.tagTimer:
                    var v: UInt64 = 0
                    _ = read(timerFD, &v, 8)
                    armedDeadline = 0  // a one-shot timer that fired is disarmed
                case EventLoop.tagWake:
                    var v: UInt64 = 0
                    _ = read(wakeFD, &v, 8)
                    stopping = true
                default:
                    let slot = Int(tag & 0xFFFF_FFFF)
                    let serial = UInt32(truncatingIfNeeded: tag >> 32)
                    guard slot < conns.count, let c = conns[slot], c.serial == serial, !c.closed else { continue }
                    connectionEvent(c, flags)
                }
            }
            processTimers()
            flushDirty()
        }
        shutdownAll()
    }

    func connectionEvent(_ c: Connection, _ flags: UInt32) {
        if flags & Linux.EPOLLERR != 0 {
            closeConn(c)
            return
        }
        if flags & Linux.EPOLLOUT != 0 {
            flush(c)
            if c.closed { return }
        }
        if flags & (Linux.EPOLLIN | Linux.EPOLLRDHUP | Linux.EPOLLHUP) != 0 {
            readable(c)
        }
    }

    // MARK: timers

    func armTimer() {
        let want = heap.top?.deadline ?? 0
        if want == armedDeadline { return }
        var its = itimerspec()
        if want != 0 {
            its.it_value.tv_sec = Int(want / 1_000_000_000)
            its.it_value.tv_nsec = Int(want % 1_000_000_000)
        }
        _ = sys.timerfdSettime(timerFD, Linux.TFD_TIMER_ABSTIME, &its, nil)
        armedDeadline = want
    }

    func schedule(_ c: Connection, at deadline: UInt64) {
        nextToken &+= 1
        if nextToken == 0 { nextToken = 1 }
        c.timerToken = nextToken
        heap.push(TimerEntry(deadline: deadline, slot: c.slot, token: nextToken))
    }

    /// Runs every timer due now. Timers that come due while these run (a zero TBT) wait for
    /// the next loop turn, so that reads, accepts and writes are not starved.
    func processTimers() {
        guard let first = heap.top else { return }
        let now = monotonicNanos()
        if first.deadline > now { return }
        due.removeAll(keepingCapacity: true)
        while let top = heap.top, top.deadline <= now { due.append(heap.pop()) }
        for e in due {
            if e.slot < 0 {
                resumeAccepting()
                continue
            }
            guard let c = conns[Int(e.slot)], c.timerToken == e.token, !c.closed else { continue }
            c.timerToken = 0
            if c.lingering {
                closeConn(c)
            } else if let r = c.response {
                if r.stream { step(c, r, now: now) } else { finishNonStreaming(c, r) }
            }
        }
    }

    // MARK: accepting

    func acceptAll() {
        for _ in 0..<512 {
            let fd = sys.accept4(listenFD, nil, nil, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
            if fd < 0 {
                let e = errno
                if e == EINTR || e == ECONNABORTED || e == EPROTO { continue }
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM { pauseAccepting() }
                return
            }
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let slot: Int32
            if let s = freeSlots.popLast() {
                slot = s
            } else {
                slot = Int32(conns.count)
                conns.append(nil)
            }
            let serial = nextSerial
            nextSerial &+= 1
            if nextSerial == 0 { nextSerial = 1 }
            let c = Connection(fd: fd, slot: slot, serial: serial)
            if epollControl(sys, epfd, Linux.EPOLL_CTL_ADD, fd, events: Linux.EPOLLIN | Linux.EPOLLRDHUP,
                            data: (UInt64(serial) << 32) | UInt64(UInt32(slot))) != 0 {
                Glibc.close(fd)
                freeSlots.append(slot)
                continue
            }
            conns[Int(slot)] = c
            delta.openConnections += 1
            delta.connectionsAccepted += 1
            deltaDirty = true
        }
    }

    /// Out of descriptors: stop watching the listener for 100 ms instead of spinning on it.
    func pauseAccepting() {
        guard !acceptPaused else { return }
        acceptPaused = true
        _ = epollControl(sys, epfd, Linux.EPOLL_CTL_MOD, listenFD, events: 0, data: EventLoop.tagListen)
        heap.push(TimerEntry(deadline: monotonicNanos() + 100_000_000, slot: -1, token: 0))
    }

    func resumeAccepting() {
        guard acceptPaused else { return }
        acceptPaused = false
        _ = epollControl(sys, epfd, Linux.EPOLL_CTL_MOD, listenFD, events: Linux.EPOLLIN, data: EventLoop.tagListen)
    }

    // MARK: reading and request parsing

    func readable(_ c: Connection) {
        var total = 0
        let cap = readBuf.count
        while true {
            let n = recv(c.fd, readBuf.baseAddress, cap, 0)
            if n > 0 {
                total += n
                if !c.closing && !c.lingering {
                    c.inBuf.append(contentsOf: UnsafeRawBufferPointer(start: readBuf.baseAddress, count: n))
                }
                if n < cap || total >= 1 << 20 { break }
                continue
            }
            if n == 0 {
                // The peer closed (or half-closed) its side: drop whatever is in progress.
                closeConn(c)
                return
            }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { break }
            closeConn(c)
            return
        }
        if c.closing || c.lingering { return }
        if c.response != nil {
            // A pipelined request is waiting; bound what a client may pile up meanwhile.
            if c.inBuf.count > config.maxBodyBytes + HTTPHead.maxHeadBytes { closeConn(c) }
            return
        }
        processInput(c, readAt: monotonicNanos())
    }

    /// Handles every complete request in `c.inBuf` (one at a time: the next waits for the
    /// current response to finish). `readAt` is when the bytes were read: TTFT counts from it.
    func processInput(_ c: Connection, readAt: UInt64) {
        while c.response == nil && !c.closing && !c.closed {
            if c.head == nil {
                let end: Int? = c.inBuf.withUnsafeBufferPointer { HTTPHead.findEnd($0, from: c.scanned) }
                guard let end else {
                    c.scanned = HTTPHead.resumePoint(c.inBuf.count)
                    if c.inBuf.count > HTTPHead.maxHeadBytes {
                        writeError(c, APIError(status: 431, message: "request header section larger than \(HTTPHead.maxHeadBytes) bytes", type: "invalid_request_error", param: nil), keepAlive: false)
                    }
                    return
                }
                if end > HTTPHead.maxHeadBytes {
                    writeError(c, APIError(status: 431, message: "request header section larger than \(HTTPHead.maxHeadBytes) bytes", type: "invalid_request_error", param: nil), keepAlive: false)
                    return
                }
                let parsed: Result<RequestHead, HeadParseError> = c.inBuf.withUnsafeBufferPointer { buf in
                    do throws(HeadParseError) { return .success(try HTTPHead.parse(UnsafeBufferPointer(rebasing: buf[0..<end]))) } catch { return .failure(error) }
                }
                switch parsed {
                case .failure(.malformed(let why)):
                    writeError(c, .invalid("malformed HTTP request: \(why)", param: nil), keepAlive: false)
                    return
                case .success(let head):
                    if head.transferEncoding {
                        writeError(c, APIError(status: 411, message: "chunked request bodies are not supported; send Content-Length", type: "invalid_request_error", param: nil), keepAlive: false)
                        return
                    }
                    if head.method == .post && head.contentLength == nil {
                        writeError(c, APIError(status: 411, message: "Content-Length required", type: "invalid_request_error", param: nil), keepAlive: false)
                        return
                    }
                    if let n = head.contentLength, n > config.maxBodyBytes {
                        writeError(c, APIError(status: 413, message: "request body of \(n) bytes exceeds the limit of \(config.maxBodyBytes) bytes", type: "invalid_request_error", param: nil), keepAlive: false)
                        return
                    }
                    c.head = head
                    c.headLen = end
                }
            }
            guard let head = c.head else { return }
            let need = c.headLen + (head.contentLength ?? 0)
            if c.inBuf.count < need {
                if head.expectContinue && !c.sentContinue {
                    c.sentContinue = true
                    c.out.appendASCII("HTTP/1.1 100 Continue\r\n\r\n")
                    markDirty(c)
                }
                return
            }
            c.head = nil
            c.sentContinue = false
            c.scanned = 0
            handleRequest(c, head, bodyRange: c.headLen..<need, readAt: readAt)
            if c.closed { return }
            if need == c.inBuf.count {
                c.inBuf.removeAll(keepingCapacity: c.inBuf.capacity <= 64 * 1024)
            } else {
                c.inBuf.removeFirst(need)
            }
        }
    }

    func handleRequest(_ c: Connection, _ head: RequestHead, bodyRange: Range<Int>, readAt: UInt64) {
        let keepAlive = head.keepAlive
        switch head.path {
        case "/health":
            guard head.method == .get || head.method == .head else { return methodNotAllowed(c, head, allow: "GET, HEAD") }
            writeResponse(c, status: 200, contentType: nil, body: [], keepAlive: keepAlive)
        case "/v1/models":
            guard head.method == .get || head.method == .head else { return methodNotAllowed(c, head, allow: "GET, HEAD") }
            writeResponse(c, status: 200, contentType: "application/json", body: modelsBody, keepAlive: keepAlive,
                          omitBody: head.method == .head)
        case "/v1/completions", "/v1/chat/completions":
            guard head.method == .post else { return methodNotAllowed(c, head, allow: "POST") }
            let endpoint: Endpoint = head.path == "/v1/completions" ? .completions : .chat
            let result = c.inBuf.withUnsafeBufferPointer { buf in
                RequestValidator.validate(UnsafeBufferPointer(rebasing: buf[bodyRange]), endpoint: endpoint, rules: rules)
            }
            switch result {
            case .failure(let err): writeError(c, err, keepAlive: keepAlive, requestID: head.requestID)
            case .success(let req): startGeneration(c, head, req, now: readAt)
            }
        default:
            writeError(c, APIError(status: 404, message: "no route for \(head.methodText) \(head.path)", type: "not_found_error", param: nil),
                       keepAlive: keepAlive)
        }
    }

    func methodNotAllowed(_ c: Connection, _ head: RequestHead, allow: String) {
        writeError(c, APIError(status: 405, message: "method \(head.methodText) not allowed on \(head.path) (allowed: \(allow))", type: "invalid_request_error", param: nil),
                   keepAlive: head.keepAlive, extraHeaders: "allow: \(allow)\r\n")
    }

    // MARK: simple responses

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        default: return "Status"
        }
    }

    func writeResponse(_ c: Connection, status: Int, contentType: String?, body: [UInt8], keepAlive: Bool,
                       extraHeaders: String = "", omitBody: Bool = false, requestID: String? = nil) {
        var h = "HTTP/1.1 \(status) \(EventLoop.reason(status))\r\nserver: accelbench-mock\r\n"
        if let contentType { h += "content-type: \(contentType)\r\n" }
        h += "content-length: \(body.count)\r\n"
        if let requestID { h += "x-request-id: \(requestID)\r\n" }
        h += extraHeaders
        h += keepAlive ? "connection: keep-alive\r\n\r\n" : "connection: close\r\n\r\n"
        c.out.append(contentsOf: h.utf8)
        if !omitBody { c.out.append(contentsOf: body) }
        if !keepAlive { c.closing = true }
        markDirty(c)
    }

    func writeError(_ c: Connection, _ err: APIError, keepAlive: Bool, extraHeaders: String = "", requestID: String? = nil) {
        writeResponse(c, status: err.status, contentType: "application/json", body: err.body, keepAlive: keepAlive,
                      extraHeaders: extraHeaders, requestID: requestID)
    }

    // MARK: generation

    func startGeneration(_ c: Connection, _ head: RequestHead, _ req: GenRequest, now: UInt64) {
        let index = requestCounter
        requestCounter += 1
        delta.requests += 1
        deltaDirty = true
        var rng = SeededRNG(seed: config.seed, stream: 0, index: index)
        // Fault draws come first and always happen, so the latency draws that follow do not
        // depend on which faults are configured.
        let uDrop = rng.uniform(), u500 = rng.uniform(), uMalformed = rng.uniform(), uStall = rng.uniform()
        let f = config.faults
        let keepAlive = head.keepAlive
        if u500 < f.http500 {
            delta.faultsInjected += 1
            writeError(c, APIError(status: 500, message: "injected fault: internal server error", type: "server_error", param: nil),
                       keepAlive: keepAlive, requestID: head.requestID)
            return
        }
        var sm = config.seed ^ (index &* 0x9E37_79B9_7F4A_7C15)
        let a = splitMix64(&sm), b = splitMix64(&sm)
        var idBytes: [UInt8] = Array((req.endpoint == .chat ? "chatcmpl-" : "cmpl-").utf8)
        for v in [a, b] {
            for shift in stride(from: 60, through: 0, by: -4) {
                idBytes.append(EventLoop.hexDigits[Int((v >> UInt64(shift)) & 0xF)])
            }
        }
        let id = String(decoding: idBytes, as: UTF8.self)
        let chunked = !head.http10
        let r = ResponseState(endpoint: req.endpoint, stream: req.stream, chunked: chunked, keepAlive: keepAlive && (chunked || !req.stream),
                              req: req, tokensPerChunk: config.tokensPerChunk, reasoningFraction: config.reasoningFraction,
                              id: id, created: Int(time(nil)), rng: rng)
        r.requestID = head.requestID
        let numChunks = r.numChunks
        if uDrop < f.dropConnection { r.dropAfter = max(1, numChunks / 2) }
        if uMalformed < f.malformedSSE { r.malformedAt = numChunks / 2 }
        if uStall < f.stall && stallNanos > 0 { r.stallAt = numChunks >= 2 ? numChunks / 2 : 0 }

        var due = now &+ config.ttft.sampleNanos(&r.rng)
        if r.stallAt == 0 {
            due &+= stallNanos
            delta.faultsInjected += 1
        }
        c.response = r
        if req.stream {
            var h = "HTTP/1.1 200 OK\r\nserver: accelbench-mock\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
            if let rid = head.requestID { h += "x-request-id: \(rid)\r\n" }
            if chunked {
                h += r.keepAlive ? "transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n" : "transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            } else {
                h += "connection: close\r\n\r\n"
            }
            c.out.append(contentsOf: h.utf8)
            markDirty(c)
            r.nextDue = due
        } else {
            // The whole reply goes out when the last token (or, for a drop, the drop point) would.
            let lastChunk = r.dropAfter >= 0 ? r.dropAfter - 1 : numChunks - 1
            if lastChunk >= 1 {
                for i in 1...lastChunk {
                    due &+= config.tbt.sampleNanos(&r.rng)
                    if i == r.stallAt {
                        due &+= stallNanos
                        delta.faultsInjected += 1
                    }
                }
            }
            r.nextDue = due
        }
        schedule(c, at: due)
    }

    /// Produces every chunk of `r` that is due by `now`, then schedules the next wake-up.
    func step(_ c: Connection, _ r: ResponseState, now: UInt64) {
        var budget = EventLoop.chunksPerStep
        while true {
            if budget == 0 {
                schedule(c, at: r.nextDue)  // due now: continues on the next loop turn
                return
            }
            budget -= 1
            if c.outPending >= EventLoop.highWater {
                flush(c)
                if c.closed { return }
                if c.outPending >= EventLoop.highWater {
                    r.blocked = true  // resumed by flush() once EPOLLOUT lets the output drain
                    return
                }
            }
            if r.nextDue > now {
                schedule(c, at: r.nextDue)
                return
            }
            let i = r.emittedChunks
            if i == r.malformedAt {
                r.malformedAt = -1
                delta.faultsInjected += 1
                scratch.removeAll(keepingCapacity: true)
                scratch.appendASCII("data: ")
                scratch.append(contentsOf: r.encoder.chunkHead)
                scratch.appendASCII("{\"index\":0,\"te\n\n")
                EventLoop.appendFramed(scratch, chunked: r.chunked, to: &c.out)
            }
            if r.endpoint == .chat && !r.roleSent {
                r.roleSent = true
                r.encoder.role(into: &scratch)
                EventLoop.appendFramed(scratch, chunked: r.chunked, to: &c.out)
            }
            let final = i == r.numChunks - 1
            if r.emittedTokens < r.reasoningTokens {
                let k = min(r.tokensPerChunk, r.reasoningTokens - r.emittedTokens)
                r.encoder.reasoning(into: &scratch, start: r.emittedTokens, count: k, final: final)
                r.emittedTokens += k
            } else {
                let k = min(r.tokensPerChunk, r.maxTokens - r.emittedTokens)
                r.encoder.content(into: &scratch, start: r.emittedTokens, count: k, final: final)
                r.emittedTokens += k
            }
            EventLoop.appendFramed(scratch, chunked: r.chunked, to: &c.out)
            r.emittedChunks = i + 1
            delta.chunksSent += 1
            deltaDirty = true
            markDirty(c)
            if r.emittedChunks == r.dropAfter {
                delta.faultsInjected += 1
                flush(c)
                if !c.closed { closeConn(c) }
                return
            }
            if final {
                if r.includeUsage {
                    r.encoder.usage(into: &scratch, completion: r.emittedTokens)
                    EventLoop.appendFramed(scratch, chunked: r.chunked, to: &c.out)
                }
                if r.chunked {
                    c.out.appendASCII("e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
                } else {
                    c.out.appendASCII("data: [DONE]\n\n")
                }
                finishResponse(c, r)
                return
            }
            var gap = config.tbt.sampleNanos(&r.rng)
            if r.emittedChunks == r.stallAt {
                gap &+= stallNanos
                delta.faultsInjected += 1
            }
            r.nextDue &+= gap
        }
    }

    func finishNonStreaming(_ c: Connection, _ r: ResponseState) {
        if r.dropAfter >= 0 {
            delta.faultsInjected += 1
            deltaDirty = true
            closeConn(c)
            return
        }
        var body: [UInt8]
        if r.malformedAt >= 0 {
            delta.faultsInjected += 1
            body = Array("{\"id\":\"\(r.id)\",\"object\":\"".utf8)
        } else {
            body = r.encoder.body(completion: r.maxTokens)
        }
        deltaDirty = true
        writeResponse(c, status: 200, contentType: "application/json", body: body, keepAlive: r.keepAlive,
                      requestID: r.requestID)
        finishResponse(c, r)
    }

    func finishResponse(_ c: Connection, _ r: ResponseState) {
        c.response = nil
        markDirty(c)
        if !r.keepAlive {
            c.closing = true
            return
        }
        if !c.inBuf.isEmpty { processInput(c, readAt: monotonicNanos()) }
    }

    // MARK: chunk shapes (vLLM's)

    @inline(__always)
    static func appendFramed(_ payload: [UInt8], chunked: Bool, to out: inout [UInt8]) {
        if chunked {
            out.appendHex(payload.count)
            out.append(13)
            out.append(10)
            out.append(contentsOf: payload)
            out.append(13)
            out.append(10)
        } else {
            out.append(contentsOf: payload)
        }
    }

    // MARK: writing

    @inline(__always)
    func markDirty(_ c: Connection) {
        if !c.dirty {
            c.dirty = true
            dirtyList.append(c.slot)
        }
    }

    func flushDirty() {
        var i = 0
        while i < dirtyList.count {
            let slot = Int(dirtyList[i])
            i += 1
            guard let c = conns[slot], c.dirty, !c.closed else { continue }
            flush(c)
        }
        dirtyList.removeAll(keepingCapacity: true)
        publishStats()
    }

    /// Publishes counter deltas. Called before every send (so a client never sees bytes that
    /// the counters do not yet include), after it, and on close.
    @inline(__always)
    func publishStats() {
        guard deltaDirty else { return }
        deltaDirty = false
        let d = delta
        delta = MockServerStats()
        shared.withLock { s in
            s.requests += d.requests
            s.chunksSent += d.chunksSent
            s.faultsInjected += d.faultsInjected
            s.openConnections += d.openConnections
            s.connectionsAccepted += d.connectionsAccepted
            s.bytesSent += d.bytesSent
        }
    }

    func flush(_ c: Connection) {
        c.dirty = false
        if c.closed { return }
        if c.outPending > 0 {
            deltaDirty = true
            publishStats()
            let total = c.out.count
            var start = c.outStart
            var failed = false
            c.out.withUnsafeBytes { buf in
                while start < total {
                    let n = send(c.fd, buf.baseAddress! + start, total - start, Int32(MSG_NOSIGNAL))
                    if n > 0 {
                        start += n
                        delta.bytesSent += n
                        continue
                    }
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                    failed = true  // EPIPE, ECONNRESET: the client is gone
                    break
                }
            }
            deltaDirty = true
            if failed {
                closeConn(c)
                return
            }
            publishStats()
            if start == total {
                c.outStart = 0
                c.out.removeAll(keepingCapacity: c.out.capacity <= 64 * 1024)
            } else {
                c.outStart = start
                if start >= 64 * 1024 && start * 2 >= total {
                    c.out.removeFirst(start)
                    c.outStart = 0
                }
            }
        }
        if c.outPending > 0 {
            setWriteInterest(c, true)
        } else {
            setWriteInterest(c, false)
            if let r = c.response, r.blocked {
                // Drained: the stream goes on through the timer heap (at once if overdue).
                r.blocked = false
                schedule(c, at: r.nextDue)
            }
            if c.closing && c.response == nil && !c.lingering {
                // Lingering close: shut down our side, then read until the client closes so
                // that unread input cannot turn the close into a reset that loses the reply.
                c.lingering = true
                c.inBuf = []
                _ = shutdown(c.fd, Int32(SHUT_WR))
                schedule(c, at: monotonicNanos() + EventLoop.lingerNanos)
            }
        }
    }

    func setWriteInterest(_ c: Connection, _ on: Bool) {
        guard c.writeArmed != on else { return }
        c.writeArmed = on
        _ = epollControl(sys, epfd, Linux.EPOLL_CTL_MOD, c.fd, events: Linux.EPOLLIN | Linux.EPOLLRDHUP | (on ? Linux.EPOLLOUT : 0),
                         data: (UInt64(c.serial) << 32) | UInt64(UInt32(c.slot)))
    }

    func closeConn(_ c: Connection) {
        guard !c.closed else { return }
        c.closed = true
        c.response = nil
        c.timerToken = 0
        // Counters first: a client that sees the close must also see what led to it.
        delta.openConnections -= 1
        deltaDirty = true
        publishStats()
        Glibc.close(c.fd)
        conns[Int(c.slot)] = nil
        freeSlots.append(c.slot)
    }

    func shutdownAll() {
        for case let c? in conns { closeConn(c) }
        conns.removeAll()
        heap.removeAll()
        Glibc.close(listenFD)
        Glibc.close(timerFD)
        Glibc.close(epfd)
        publishStats()
    }
}
