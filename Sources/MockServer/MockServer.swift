#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import BenchCore

/// A small OpenAI-compatible HTTP/1.1 server with configurable latencies and injected faults:
/// one event-loop thread over non-blocking sockets and epoll, with a timer heap (and a timerfd)
/// for scheduled chunk sends, so thousands of concurrent streams cost no threads.
///
/// Endpoints: `GET /health`, `GET /v1/models`, `POST /v1/completions`,
/// `POST /v1/chat/completions` (streaming as `text/event-stream` over chunked encoding, in vLLM's
/// chunk shapes, or one JSON reply). Output is exactly `max_tokens` (or `max_completion_tokens`)
/// tokens, one word of a fixed vocabulary per token (as with `ignore_eos`). `model` may be left
/// out (the first served model is used, as vLLM does); an unknown one is a 400.
///
/// Timing: the first token chunk (with a chat stream's role chunk just before it) is due a TTFT
/// sample after the request was read, each next chunk a TBT sample after the previous one's due
/// time (absolute deadlines: no drift; a server that fell behind catches up). A non-streaming
/// reply goes out when its last chunk would have. Response headers go out at once.
///
/// Per-request randomness: the k-th accepted generation request (k = 0, 1, …, counted in
/// `stats.requests`) draws from `SeededRNG(seed:, stream: 0, index: k)`: four uniforms decide the
/// faults (drop, 500, malformed, stall, in that order), then the TTFT, then each TBT. Fault
/// points: a 500 replaces the reply; a drop closes the connection after max(1, chunks/2) token
/// chunks; a malformed `data:` line goes in before token chunk chunks/2;
/// a stall delays token chunk max(1, chunks/2) (the first chunk when there is only one).
///
/// HTTP: keep-alive, pipelining, `Expect: 100-continue`, HTTP/1.0 (close-delimited streams);
/// 411 for chunked request bodies or a POST without Content-Length, 413 over `maxBodyBytes`,
/// 431 over 32 KiB of headers, 404/405 with OpenAI-style error bodies. A client that closes
/// (EOF, EPOLLRDHUP, EPIPE, ECONNRESET) loses its stream; nothing else is affected.
public final class MockServer: @unchecked Sendable {
    private struct State {
        var started = false
        var stopped = false
        var port = 0
        var thread: pthread_t = pthread_t()
        var wakeFD: Int32 = -1
    }

    public let config: MockServerConfig
    private let state = Locked(State())
    private let shared = Locked(MockServerStats())

    public init(_ config: MockServerConfig) {
        self.config = config
    }

    deinit { stop() }

    /// The bound port (0 before `start()`).
    public var port: Int { state.withLock { $0.port } }

    /// A thread-safe snapshot of the counters.
    public var stats: MockServerStats { shared.withLock { $0 } }

    /// Binds and starts the event-loop thread; returns the bound port.
    public func start() throws(BenchError) -> Int {
        try config.validate()
        let already = state.withLock { s -> Bool in
            if s.started { return true }
            s.started = true
            return false
        }
        if already { throw .usage("mock-server: start() called twice") }
        do throws(BenchError) {
            return try launch()
        } catch {
            state.withLock { $0.stopped = true }
            throw error
        }
    }

    private func launch() throws(BenchError) -> Int {
        raiseDescriptorLimit()
        let where_ = "mock-server \(config.host):\(config.port)"
        let (listenFD, port) = try MockServer.bindListener(host: config.host, port: config.port, label: where_)
        var fds: [Int32] = [listenFD]
        func fail(_ what: String) -> BenchError {
            let msg = "\(what): \(errnoText())"
            for fd in fds { Glibc.close(fd) }
            return .io(where_, msg)
        }
        guard let sys = Linux.functions else {
            for fd in fds { Glibc.close(fd) }
            throw .io(where_, "epoll, timerfd and eventfd are required (Linux)")
        }
        let epfd = sys.epollCreate1(Linux.EPOLL_CLOEXEC)
        guard epfd >= 0 else { throw fail("epoll_create1") }
        fds.append(epfd)
        let timerFD = sys.timerfdCreate(CLOCK_MONOTONIC, Linux.TFD_NONBLOCK | Linux.TFD_CLOEXEC)
        guard timerFD >= 0 else { throw fail("timerfd_create") }
        fds.append(timerFD)
        let wakeFD = sys.eventfd(0, Linux.EFD_NONBLOCK | Linux.EFD_CLOEXEC)
        guard wakeFD >= 0 else { throw fail("eventfd") }
        fds.append(wakeFD)
        for (fd, tag) in [(listenFD, EventLoop.tagListen), (timerFD, EventLoop.tagTimer), (wakeFD, EventLoop.tagWake)] {
            guard epollControl(sys, epfd, Linux.EPOLL_CTL_ADD, fd, events: Linux.EPOLLIN, data: tag) == 0 else { throw fail("epoll_ctl") }
        }

        let loop = EventLoop(sys: sys, config: config, shared: shared, epfd: epfd, listenFD: listenFD, timerFD: timerFD, wakeFD: wakeFD)
        var tid = pthread_t()
        let box = Unmanaged.passRetained(loop).toOpaque()
        let rc = pthread_create(&tid, nil, { arg in
            let loop = Unmanaged<EventLoop>.fromOpaque(arg!).takeRetainedValue()
            _ = Linux.functions?.setName?(pthread_self(), "mock-server")
            // Timers are the product here: 1 ns slack instead of the default 50 µs.
            _ = Linux.functions?.prctl?(Linux.PR_SET_TIMERSLACK, 1, 0, 0, 0)
            loop.run()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<EventLoop>.fromOpaque(box).release()
            for fd in fds { Glibc.close(fd) }
            throw .io(where_, "pthread_create: \(errnoText(rc))")
        }
        state.withLock { s in
            s.thread = tid
            s.wakeFD = wakeFD
            s.port = port
        }
        return port
    }

    /// Closes everything and joins the thread; idempotent.
    public func stop() {
        let action = state.withLock { s -> (pthread_t, Int32)? in
            guard s.started, !s.stopped else { return nil }
            s.stopped = true
            guard s.wakeFD >= 0 else { return nil }
            return (s.thread, s.wakeFD)
        }
        guard let (thread, wakeFD) = action else { return }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
        pthread_join(thread, nil)
        Glibc.close(wakeFD)
        state.withLock { $0.wakeFD = -1 }
    }

    // MARK: setup helpers

    static func bindListener(host: String, port: Int, label: String) throws(BenchError) -> (Int32, Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var res: UnsafeMutablePointer<addrinfo>?
        let bindHost = host.isEmpty ? nil : host
        let rc = getaddrinfo(bindHost, String(port), &hints, &res)
        guard rc == 0, let first = res else {
            throw .io(label, "cannot resolve host: \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var lastError = "no usable address"
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            ai = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 {
                lastError = "socket: \(errnoText())"
                continue
            }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0 {
                lastError = "bind: \(errnoText())"
                Glibc.close(fd)
                continue
            }
            if listen(fd, 4096) != 0 {
                lastError = "listen: \(errnoText())"
                Glibc.close(fd)
                continue
            }
            var ss = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let ok = withUnsafeMutablePointer(to: &ss) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) == 0 }
            }
            guard ok else {
                lastError = "getsockname: \(errnoText())"
                Glibc.close(fd)
                continue
            }
            let bound: Int
            if Int32(ss.ss_family) == AF_INET6 {
                bound = withUnsafePointer(to: &ss) {
                    $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
                }
            } else {
                bound = withUnsafePointer(to: &ss) {
                    $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
                }
            }
            return (fd, bound)
        }
        throw .io(label, lastError)
    }

    /// Thousands of concurrent streams need thousands of descriptors: raise the soft limit
    /// towards the hard one (best effort; process-wide, as servers commonly do).
    private func raiseDescriptorLimit() {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return }
        let want = min(rl.rlim_max, 1 << 20)
        if rl.rlim_cur < want {
            rl.rlim_cur = want
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
        }
    }
}
