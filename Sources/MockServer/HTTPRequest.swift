/// The parts of an HTTP/1.x request head the mock server acts on.
struct RequestHead {
    enum Method { case get, head, post, other }

    var method = Method.other
    var methodText = ""
    var path = ""
    var http10 = false
    var contentLength: Int?
    var transferEncoding = false
    var connectionClose = false
    var connectionKeepAlive = false
    var expectContinue = false
    var requestID: String?

    /// Whether the connection stays open after the response.
    var keepAlive: Bool { http10 ? connectionKeepAlive : !connectionClose }
}

enum HeadParseError: Error {
    case malformed(String)
}

enum HTTPHead {
    /// Largest request head accepted (431 beyond).
    static let maxHeadBytes = 32 * 1024

    /// Finds the end of the head (just past the blank line) in `buf[from...]`, accepting CRLF
    /// or bare LF line ends; `from` lets a caller resume a scan without rereading bytes.
    /// Returns nil when the blank line has not arrived yet.
    static func findEnd(_ buf: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        var i = max(from, 0)
        let n = buf.count
        while i < n {
            if buf[i] == 0x0A {
                // LF LF  or  LF CR LF
                if i + 1 < n, buf[i + 1] == 0x0A { return i + 2 }
                if i + 2 < n, buf[i + 1] == 0x0D, buf[i + 2] == 0x0A { return i + 3 }
            }
            i += 1
        }
        return nil
    }

    /// Where a resumed scan may start once `count` bytes have been scanned without success.
    static func resumePoint(_ count: Int) -> Int { max(0, count - 3) }

    static func parse(_ buf: UnsafeBufferPointer<UInt8>) throws(HeadParseError) -> RequestHead {
        var head = RequestHead()
        var lines: [Range<Int>] = []
        var start = 0
        for i in 0..<buf.count where buf[i] == 0x0A {
            var end = i
            if end > start, buf[end - 1] == 0x0D { end -= 1 }
            lines.append(start..<end)
            start = i + 1
        }
        // Tolerate leading empty lines (RFC 9112 §2.2).
        while let f = lines.first, f.isEmpty { lines.removeFirst() }
        guard let requestLine = lines.first else { throw .malformed("empty request") }

        // METHOD SP target SP HTTP/1.x
        let rl = buf[requestLine]
        let parts = rl.split(separator: 0x20, omittingEmptySubsequences: true)
        guard parts.count == 3 else { throw .malformed("malformed request line") }
        head.methodText = String(decoding: parts[0], as: UTF8.self)
        switch head.methodText {
        case "GET": head.method = .get
        case "HEAD": head.method = .head
        case "POST": head.method = .post
        default: head.method = .other
        }
        var target = String(decoding: parts[1], as: UTF8.self)
        if let q = target.firstIndex(where: { $0 == "?" || $0 == "#" }) { target = String(target[..<q]) }
        // absolute-form: http://host:port/path
        if target.hasPrefix("http://") || target.hasPrefix("https://") {
            let afterScheme = target[target.index(target.firstIndex(of: ":")!, offsetBy: 3)...]
            if let slash = afterScheme.firstIndex(of: "/") { target = String(afterScheme[slash...]) } else { target = "/" }
        }
        head.path = target
        let version = String(decoding: parts[2], as: UTF8.self)
        switch version {
        case "HTTP/1.1": head.http10 = false
        case "HTTP/1.0": head.http10 = true
        default: throw .malformed("unsupported protocol version '\(version)'")
        }

        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = buf[line].firstIndex(of: UInt8(ascii: ":")) else { throw .malformed("malformed header line") }
            let name = buf[line.lowerBound..<colon]
            guard !name.isEmpty, name.last != 0x20, name.last != 0x09 else { throw .malformed("malformed header name") }
            var vs = colon + 1, ve = line.upperBound
            while vs < ve, buf[vs] == 0x20 || buf[vs] == 0x09 { vs += 1 }
            while ve > vs, buf[ve - 1] == 0x20 || buf[ve - 1] == 0x09 { ve -= 1 }
            let value = buf[vs..<ve]
            if equalsLower(name, "content-length") {
                guard !value.isEmpty, value.count <= 18, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    throw .malformed("invalid Content-Length")
                }
                var v = 0
                for b in value { v = v * 10 + Int(b - 0x30) }
                if let prev = head.contentLength, prev != v { throw .malformed("conflicting Content-Length headers") }
                head.contentLength = v
            } else if equalsLower(name, "transfer-encoding") {
                head.transferEncoding = true
            } else if equalsLower(name, "connection") {
                for token in value.split(separator: UInt8(ascii: ",")) {
                    var t = token[...]
                    while let f = t.first, f == 0x20 || f == 0x09 { t = t.dropFirst() }
                    while let l = t.last, l == 0x20 || l == 0x09 { t = t.dropLast() }
                    if equalsLower(t, "close") { head.connectionClose = true }
                    if equalsLower(t, "keep-alive") { head.connectionKeepAlive = true }
                }
            } else if equalsLower(name, "expect") {
                if equalsLower(value, "100-continue") { head.expectContinue = true }
            } else if equalsLower(name, "x-request-id") {
                if value.count <= 256, value.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) {
                    head.requestID = String(decoding: value, as: UTF8.self)
                }
            }
        }
        return head
    }

    /// Compares bytes case-insensitively with a lowercase ASCII literal.
    static func equalsLower<C: Collection>(_ bytes: C, _ lower: StaticString) -> Bool where C.Element == UInt8 {
        lower.withUTF8Buffer { l in
            guard bytes.count == l.count else { return false }
            var i = 0
            for b in bytes {
                let c = (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
                if c != l[i] { return false }
                i += 1
            }
            return true
        }
    }
}
