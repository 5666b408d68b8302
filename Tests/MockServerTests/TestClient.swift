#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import BenchCore
import Foundation

/// Plain POSIX loopback clients for the mock server tests (no HTTP library on purpose: the
/// tests see exactly the bytes on the wire).

func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

struct ClientError: Error, CustomStringConvertible {
    var description: String
}

/// Connects to 127.0.0.1:port (blocking).
func connectLoopback(_ port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ClientError(description: "socket: \(errno)") }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else {
        let e = errno
        close(fd)
        throw ClientError(description: "connect: \(String(cString: strerror(e)))")
    }
    var one: Int32 = 1
    _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    return fd
}

/// One SSE event's data with the time the read that completed it returned.
struct SSEEvent {
    var time: Double
    var data: String
    var json: JSONValue? { try? JSONParser.parse(data) }
}

struct HTTPReply {
    var status = 0
    var headers: [String: String] = [:]
    var body: [UInt8] = []
    var events: [SSEEvent] = []
    /// The body ended properly (length reached or terminating chunk seen).
    var complete = false
    /// The peer closed the connection before the body ended.
    var closedEarly = false
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    var json: JSONValue? { try? JSONParser.parse(bodyText) }
    /// Token-carrying events' JSON (role-only, usage-only, [DONE] and non-JSON lines excluded).
    var tokenChunks: [JSONValue] {
        events.compactMap { $0.json }.filter { chunk in
            guard case .array(let choices)? = chunk["choices"], let c = choices.first else { return false }
            if case .string? = c["text"] { return true }
            if case .string? = c["delta"]?["content"], c["delta"]?["role"] == nil { return true }
            return false
        }
    }
}

/// A blocking client connection with a read timeout.
final class TestConnection {
    let fd: Int32
    var buf: [UInt8] = []
    var eof = false

    init(port: Int, timeout: Double = 5) throws {
        fd = try connectLoopback(port)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        try sendBytes(Array(text.utf8))
    }

    func sendBytes(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw ClientError(description: "send failed: \(errno)") }
            off += n
        }
    }

    /// Reads more bytes; false on EOF, error or timeout.
    @discardableResult
    func readMore() -> Bool {
        if eof { return false }
        var tmp = [UInt8](repeating: 0, count: 65536)
        let n = tmp.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
        if n > 0 {
            buf.append(contentsOf: tmp[0..<n])
            return true
        }
        eof = true
        return false
    }

    func request(_ method: String, _ path: String, body: String? = nil, headers: [String] = []) throws {
        var s = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for h in headers { s += h + "\r\n" }
        if let body { s += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        s += "\r\n"
        if let body { s += body }
        try send(s)
    }

    private func find(_ pattern: [UInt8]) -> Int? { indexOf(buf, pattern) }

    /// Reads one response; events are split out of a text/event-stream body as they arrive.
    func readResponse(deadline: Double = 10) throws -> HTTPReply {
        let limit = nowSeconds() + deadline
        var reply = HTTPReply()
        var headEnd: Int?
        while headEnd == nil {
            headEnd = find(Array("\r\n\r\n".utf8))
            if headEnd == nil {
                guard nowSeconds() < limit, readMore() else { throw ClientError(description: "no response head") }
            }
        }
        let head = String(decoding: buf[0..<headEnd!], as: UTF8.self)
        buf.removeFirst(headEnd! + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        reply.status = Int(statusLine[1]) ?? 0
        for l in lines {
            if let c = l.firstIndex(of: ":") {
                reply.headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
            }
        }
        if reply.status == 100 { return try readResponse(deadline: deadline) }

        var sse: [UInt8] = []
        func splitEvents(_ t: Double) {
            while let r = indexOf(sse, [10, 10]) {
                let ev = String(decoding: sse[0..<r], as: UTF8.self)
                sse.removeFirst(r + 2)
                for line in ev.split(separator: "\n") where line.hasPrefix("data: ") {
                    reply.events.append(SSEEvent(time: t, data: String(line.dropFirst(6))))
                }
            }
        }
        let isSSE = reply.headers["content-type"]?.hasPrefix("text/event-stream") ?? false
        if reply.headers["transfer-encoding"]?.lowercased() == "chunked" {
            while true {
                var t = nowSeconds()
                guard let lineEnd = find([13, 10]) else {
                    guard nowSeconds() < limit, readMore() else { reply.closedEarly = eof; return reply }
                    continue
                }
                let size = Int(String(decoding: buf[0..<lineEnd], as: UTF8.self), radix: 16) ?? -1
                guard size >= 0 else { throw ClientError(description: "bad chunk size") }
                while buf.count < lineEnd + 2 + size + 2 {
                    guard nowSeconds() < limit, readMore() else { reply.closedEarly = eof; return reply }
                    t = nowSeconds()
                }
                let data = buf[(lineEnd + 2)..<(lineEnd + 2 + size)]
                buf.removeFirst(lineEnd + 2 + size + 2)
                if size == 0 {
                    reply.complete = true
                    return reply
                }
                reply.body.append(contentsOf: data)
                if isSSE {
                    sse.append(contentsOf: data)
                    splitEvents(t)
                }
            }
        } else if let lenText = reply.headers["content-length"], let len = Int(lenText) {
            while buf.count < len {
                guard nowSeconds() < limit, readMore() else { reply.closedEarly = eof; return reply }
            }
            reply.body = Array(buf[0..<len])
            buf.removeFirst(len)
            reply.complete = true
        } else {
            // close-delimited
            while nowSeconds() < limit, readMore() {
                if isSSE {
                    sse.append(contentsOf: buf)
                    buf.removeAll()
                    splitEvents(nowSeconds())
                }
            }
            reply.body = buf
            reply.complete = eof
        }
        return reply
    }

    /// Waits (bounded) for the server to close the connection.
    func waitForClose(timeout: Double = 5) -> Bool {
        let limit = nowSeconds() + timeout
        while nowSeconds() < limit {
            if !readMore() { return eof }
        }
        return false
    }
}

func indexOf(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
    guard hay.count >= needle.count else { return nil }
    var i = 0
    while i + needle.count <= hay.count {
        if hay[i] == needle[0] {
            var ok = true
            for j in 1..<needle.count where hay[i + j] != needle[j] { ok = false; break }
            if ok { return i }
        }
        i += 1
    }
    return nil
}

/// Runs `count` concurrent requests on their own connections with one poll() loop; returns the
/// raw bytes received per connection and the wall time from the first send to the last reply.
func runConcurrent(port: Int, count: Int, request: String, timeout: Double = 30) throws -> (elapsed: Double, replies: [[UInt8]]) {
    let terminator: [UInt8] = Array("\r\n0\r\n\r\n".utf8)
    var fds: [Int32] = []
    defer { for fd in fds { close(fd) } }
    for _ in 0..<count {
        let fd = try connectLoopback(port)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        fds.append(fd)
    }
    var replies = [[UInt8]](repeating: [], count: count)
    var done = [Bool](repeating: false, count: count)
    var remaining = count
    let reqBytes = Array(request.utf8)
    let start = nowSeconds()
    for fd in fds {
        let n = reqBytes.withUnsafeBytes { send(fd, $0.baseAddress, reqBytes.count, Int32(MSG_NOSIGNAL)) }
        guard n == reqBytes.count else { throw ClientError(description: "short send") }
    }
    var pfds = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    let buf = UnsafeMutableRawPointer.allocate(byteCount: 256 * 1024, alignment: 16)
    defer { buf.deallocate() }
    let limit = start + timeout
    while remaining > 0 {
        guard nowSeconds() < limit else { throw ClientError(description: "timed out with \(remaining) replies pending") }
        let n = poll(&pfds, nfds_t(pfds.count), 100)
        if n <= 0 { continue }
        for i in 0..<pfds.count where pfds[i].revents != 0 && !done[i] {
            pfds[i].revents = 0
            while true {
                let r = recv(fds[i], buf, 256 * 1024, 0)
                if r > 0 {
                    replies[i].append(contentsOf: UnsafeRawBufferPointer(start: buf, count: r))
                    continue
                }
                if r == 0 {
                    done[i] = true
                    remaining -= 1
                    pfds[i].events = 0
                }
                break
            }
            if !done[i], replies[i].count >= terminator.count, Array(replies[i].suffix(terminator.count)) == terminator {
                done[i] = true
                remaining -= 1
                pfds[i].events = 0
            }
        }
    }
    return (nowSeconds() - start, replies)
}

/// Counts occurrences of `needle` in `hay`.
func occurrences(_ needle: String, in hay: [UInt8]) -> Int {
    let n = Array(needle.utf8)
    var count = 0
    hay.withUnsafeBufferPointer { h in
        var i = 0
        let last = h.count - n.count
        while i <= last {
            if h[i] == n[0] {
                var ok = true
                for j in 1..<n.count where h[i + j] != n[j] { ok = false; break }
                if ok { count += 1; i += n.count; continue }
            }
            i += 1
        }
    }
    return count
}
