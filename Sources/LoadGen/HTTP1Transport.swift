import BenchCore
import CCurlShim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which HTTP client carries an endpoint run's requests.
public enum HTTPClientKind: String, Sendable, CaseIterable {
    /// `native` where it can serve the URL (plain http://, HTTP/1.1, no URL credentials, no proxy
    /// in the environment), else `curl`.
    case auto
    /// libcurl: TLS, HTTP/2, proxies, URL credentials.
    case curl
    /// accelbench's own HTTP/1.1 client over the runner's epoll loop: persistent connections,
    /// one `send` per request, no per-request handle set-up. It exists for CPU per request: at
    /// 5,000 req/s libcurl, its allocations and its `poll`/`epoll_ctl` calls were about 35% of
    /// the client's samples (perf, docs/endpoints.md).
    case native
}

/// A plain-HTTP endpoint, resolved once before the run.
struct HTTP1Endpoint {
    var address = sockaddr_storage()
    var addressLength = socklen_t(0)
    var family: Int32 = 0
    /// `Host` header value and what messages call the server.
    var hostPort: String
    /// Request target: path and query.
    var target: String

    /// Why the native client cannot carry `options`' requests (nil when it can).
    static func problem(_ options: EndpointOptions, url: String) -> String? {
        guard let c = URLComponents(string: url), c.scheme?.lowercased() == "http" else { return "it speaks plain http:// only (TLS goes through libcurl)" }
        if options.http2 { return "it speaks HTTP/1.1 only (--http2 goes through libcurl)" }
        if c.user != nil || c.password != nil { return "URL credentials go through libcurl" }
        let env = ProcessInfo.processInfo.environment
        if let p = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"].first(where: { !(env[$0] ?? "").isEmpty }) {
            return "the environment names a proxy (\(p)), which libcurl honours"
        }
        return nil
    }

    /// Resolves `url`'s host (getaddrinfo, first address).
    static func resolve(_ url: String) -> Result<HTTP1Endpoint, HTTP1Problem> {
        guard let c = URLComponents(string: url), let host = c.host, !host.isEmpty else { return .failure("no host in the URL") }
        let port = c.port ?? 80
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        let rc = getaddrinfo(bare, String(port), &hints, &res)
        guard rc == 0, let res, let ai = res.pointee.ai_addr else {
            return .failure(HTTP1Problem("could not resolve host '\(bare)': \(String(cString: gai_strerror(rc)))"))
        }
        defer { freeaddrinfo(res) }
        let hostText = bare.contains(":") ? "[\(bare)]" : bare
        var e = HTTP1Endpoint(hostPort: c.port == nil ? hostText : "\(hostText):\(port)",
                              target: (c.percentEncodedPath.isEmpty ? "/" : c.percentEncodedPath) + (c.percentEncodedQuery.map { "?" + $0 } ?? ""))
        e.family = res.pointee.ai_family
        e.addressLength = res.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &e.address) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: ai, count: Int(res.pointee.ai_addrlen)))
        }
        return .success(e)
    }
}

/// One kept-alive connection of the native client.
final class HTTP1Connection {
    private(set) var fd: Int32
    var connected = false
    let openedAbs: Double
    var transfer: Transfer?
    /// The request being written, and how much of it is out.
    var wire: [UInt8] = []
    var sent = 0
    var parser = HTTP1ResponseParser()
    /// Responses this connection completed (a reused one may have been closed by the server).
    var served = 0
    /// The epoll interest the connection is registered with.
    var mask: UInt32 = 0

    init(fd: Int32, openedAbs: Double) {
        self.fd = fd
        self.openedAbs = openedAbs
    }

    var isOpen: Bool { fd >= 0 }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

/// The native client's pool: every open connection by descriptor, the idle ones, a read buffer.
final class HTTP1Pool {
    let endpoint: HTTP1Endpoint
    var byFD: [Int32: HTTP1Connection] = [:]
    var idle: [HTTP1Connection] = []
    /// The request head up to the per-request headers: request line, Host and the fixed and
    /// user headers (a user header replaces the built-in one of the same name; an empty value
    /// removes it, as with libcurl).
    let headPrefix: [UInt8]
    /// Lowercased names of the user's headers: a built-in per-request header (x-request-id, the
    /// SLO headers) of the same name is left out.
    let userHeaderNames: Set<String>
    let readBuffer: UnsafeMutableRawBufferPointer

    init(endpoint: HTTP1Endpoint, userHeaders: [String]) {
        self.endpoint = endpoint
        var user: [(name: String, line: String)] = []
        for h in userHeaders {
            let name = EndpointOptions.headerName(h)
            let value = h.drop { $0 != ":" }.dropFirst().trimmingCharacters(in: .whitespaces)
            user.append((name, value.isEmpty ? "" : h))
        }
        let names = Set(user.map(\.name))
        var head = "POST \(endpoint.target) HTTP/1.1\r\n"
        for (name, value) in [("host", "Host: \(endpoint.hostPort)"), ("content-type", "Content-Type: application/json"),
                              ("accept", "Accept: text/event-stream"), ("accept-encoding", "Accept-Encoding: identity")]
        where !names.contains(name) { head += value + "\r\n" }
        for u in user where !u.line.isEmpty && u.name != "content-length" { head += u.line + "\r\n" }
        headPrefix = Array(head.utf8)
        userHeaderNames = names
        readBuffer = .allocate(byteCount: 64 << 10, alignment: 16)
    }

    deinit {
        for c in byFD.values { c.close() }
        readBuffer.deallocate()
    }
}

extension EndpointRunner {
    // MARK: sending

    /// The bytes of `t`'s request: the pool's head, the per-request headers, the body.
    func nativeWire(_ t: Transfer, body: [UInt8], pool: HTTP1Pool) -> [UInt8] {
        var w = pool.headPrefix
        w.reserveCapacity(w.count + 160 + body.count)
        func add(_ name: String, _ value: @autoclosure () -> String) {
            if !pool.userHeaderNames.contains(name) { w.append(contentsOf: "\(name): \(value())\r\n".utf8) }
        }
        add("x-request-id", PromptBuilder.uuid(requestID: t.request.id, seed: options.promptSeed))
        if let ttft = t.request.slo.ttftMs { add("x-slo-ttft-ms", "\(ttft)") }
        if let tbt = t.request.slo.tbtMs { add("x-slo-tpot-ms", "\(tbt)") }
        w.append(contentsOf: "Content-Length: \(body.count)\r\n\r\n".utf8)
        w.append(contentsOf: body)
        return w
    }

    /// Starts `t` on an idle connection, or a new one.
    func startNative(_ t: Transfer, body: [UInt8], pool: HTTP1Pool) {
        t.nativeWire = nativeWire(t, body: body, pool: pool)
        inflight[ObjectIdentifier(t)] = t
        attachNative(t, pool: pool, fresh: false)
    }

    func attachNative(_ t: Transfer, pool: HTTP1Pool, fresh: Bool) {
        var conn: HTTP1Connection?
        while !fresh, let c = pool.idle.popLast() { if c.isOpen { conn = c; break } }
        if conn == nil {
            switch openNative(pool) {
            case .success(let c): conn = c
            case .failure(let m):
                complete(t, transportError: ("connection", m.message))
                return
            }
        }
        let c = conn!
        c.transfer = t
        t.conn = c
        c.wire = t.nativeWire
        c.sent = 0
        c.parser = HTTP1ResponseParser()
        if c.connected { flushNative(c, pool: pool) } else { watchNative(c, EPOLLOUT.rawValue, pool: pool) }
    }

    /// A non-blocking connect; the socket is watched for writability (connected or failed).
    func openNative(_ pool: HTTP1Pool) -> Result<HTTP1Connection, HTTP1Problem> {
        let e = pool.endpoint
        let fd = socket(e.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure("socket: \(FileIO.errnoText())") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = e.address
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, e.addressLength) }
        }
        if rc != 0 && errno != EINPROGRESS {
            let m = "could not connect to \(e.hostPort): \(FileIO.errnoText())"
            Glibc.close(fd)
            return .failure(HTTP1Problem(m))
        }
        let c = HTTP1Connection(fd: fd, openedAbs: EndpointRunner.clock())
        c.connected = rc == 0
        pool.byFD[fd] = c
        return .success(c)
    }

    func watchNative(_ c: HTTP1Connection, _ mask: UInt32, pool: HTTP1Pool) {
        guard c.mask != mask else { return }
        var ev = epoll_event(events: mask, data: epoll_data_t(fd: c.fd))
        epoll_ctl(epfd, c.mask == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev)
        c.mask = mask
    }

    /// Writes what is left of the request; waits for writability if the socket is full.
    func flushNative(_ c: HTTP1Connection, pool: HTTP1Pool) {
        guard let t = c.transfer else { return }
        if t.wireSentAbs == nil { t.wireSentAbs = EndpointRunner.clock() }
        while c.sent < c.wire.count {
            let n = c.wire.withUnsafeBytes { send(c.fd, $0.baseAddress! + c.sent, $0.count - c.sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 { c.sent += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { watchNative(c, EPOLLIN.rawValue | EPOLLOUT.rawValue, pool: pool); return }
            if n < 0 && errno == EINTR { continue }
            closedNative(c, pool: pool, errorText: FileIO.errnoText())
            return
        }
        watchNative(c, EPOLLIN.rawValue, pool: pool)
    }

    // MARK: receiving

    /// An epoll event on one of the native client's sockets.
    func handleNative(_ c: HTTP1Connection, events e: UInt32, pool: HTTP1Pool) {
        guard c.transfer != nil else {
            // An idle connection became readable: the server closed it (or sent what no request
            // asked for). Either way it cannot carry another request.
            dropNative(c, pool: pool)
            return
        }
        if !c.connected {
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len)
            guard err == 0, e & EPOLLOUT.rawValue != 0 else {
                let m = "could not connect to \(pool.endpoint.hostPort): \(String(cString: strerror(err == 0 ? ECONNREFUSED : err)))"
                failNative(c, pool: pool, kind: "connection", message: m)
                return
            }
            c.connected = true
        }
        if c.sent < c.wire.count {
            flushNative(c, pool: pool)
            if c.transfer == nil || c.sent < c.wire.count { return }
        }
        if e & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { readNative(c, pool: pool) }
    }

    /// Reads until the socket is drained, feeding the response parser.
    func readNative(_ c: HTTP1Connection, pool: HTTP1Pool) {
        let buf = pool.readBuffer
        while let t = c.transfer {
            let n = recv(c.fd, buf.baseAddress, buf.count, 0)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                closedNative(c, pool: pool, errorText: FileIO.errnoText())
                return
            }
            if n == 0 { closedNative(c, pool: pool, errorText: nil); return }
            let outcome = c.parser.feed(UnsafeRawBufferPointer(rebasing: buf[0..<n]), onHead: { head in
                t.head = head
                t.status = head.status
                return true
            }, onBody: { bytes in self.onData(t, bytes) })
            switch outcome {
            case .more:
                if n < buf.count { return }
            case .complete(let extra):
                c.served += 1
                let reusable = extra == 0 && (t.head?.keepsAlive ?? false)
                releaseNative(c, pool: pool, reusable: reusable)
                complete(t, transportError: nil)
                return
            case .invalid(let m):
                failNative(c, pool: pool, kind: "transport", message: "invalid HTTP response: \(m)")
                return
            case .stopped:
                // onData set the failure (oversized event, malformed stream, …).
                dropNative(c, pool: pool)
                complete(t, transportError: nil)
                return
            }
        }
    }

    /// The connection ended (EOF, or a send/receive error) with a request on it.
    func closedNative(_ c: HTTP1Connection, pool: HTTP1Pool, errorText: String?) {
        guard let t = c.transfer else { dropNative(c, pool: pool); return }
        if errorText == nil && c.parser.finishAtClose() {
            c.served += 1
            dropNative(c, pool: pool)
            complete(t, transportError: nil)
            return
        }
        if !c.parser.started && c.served > 0 && !t.retriedOnFreshConnection {
            // A kept-alive connection the server had already closed: send again on a new one
            // (as libcurl does); the request's wire-send time stays the first attempt's.
            t.retriedOnFreshConnection = true
            dropNative(c, pool: pool)
            attachNative(t, pool: pool, fresh: true)
            return
        }
        let why = errorText.map { ": \($0)" } ?? ""
        let message = c.parser.started ? "the connection closed before the response ended\(why)"
                                       : "the server closed the connection without replying\(why)"
        failNative(c, pool: pool, kind: "disconnected", message: message)
    }

    func failNative(_ c: HTTP1Connection, pool: HTTP1Pool, kind: String, message: String) {
        let t = c.transfer
        dropNative(c, pool: pool)
        if let t { complete(t, transportError: (kind, message)) }
    }

    /// Detaches the finished request; a reusable connection waits in the idle list, watched for
    /// the server closing it.
    func releaseNative(_ c: HTTP1Connection, pool: HTTP1Pool, reusable: Bool) {
        c.transfer?.conn = nil
        c.transfer = nil
        c.wire = []
        guard reusable else { dropNative(c, pool: pool); return }
        pool.idle.append(c)
    }

    /// Closes a connection for good (epoll forgets a closed descriptor by itself).
    func dropNative(_ c: HTTP1Connection, pool: HTTP1Pool) {
        c.transfer?.conn = nil
        c.transfer = nil
        if c.isOpen { pool.byFD[c.fd] = nil }
        c.close()
    }

    /// Aborts `t`'s exchange (timeout, drain end): its connection cannot be reused mid-reply.
    func abortNative(_ t: Transfer) {
        guard let c = t.conn, let pool = native else { return }
        dropNative(c, pool: pool)
    }

    /// Connect timeouts of the native client (libcurl keeps its own).
    func nativeConnectTimedOut(_ t: Transfer, now: Double) -> Bool {
        guard let c = t.conn, !c.connected, let limit = options.connectTimeoutS else { return false }
        return now - c.openedAbs > limit
    }
}
