/// The head of an HTTP/1.x response: what the load generator needs of it.
struct HTTP1Head: Sendable, Equatable {
    /// "1.1" or "1.0".
    var version: String
    var status: Int
    /// Lowercased names; a repeated header keeps every value, in order.
    var headers: [(name: String, value: String)]

    static func == (a: HTTP1Head, b: HTTP1Head) -> Bool {
        a.version == b.version && a.status == b.status && a.headers.elementsEqual(b.headers) { $0 == $1 }
    }

    func value(_ name: String) -> String? { headers.first { $0.name == name }?.value }

    /// Whether the connection may carry another request after this response (RFC 9112 §9.3).
    var keepsAlive: Bool {
        let tokens = HTTP1ResponseParser.tokens(self, "connection")
        if tokens.contains("close") { return false }
        return version == "1.1" || tokens.contains("keep-alive")
    }
}

/// An HTTP/1.x response read as its bytes arrive: status line and headers, then the body framed
/// by the chunked coding, by Content-Length, or by the connection's end (RFC 9112 §6.3). Interim
/// 1xx responses are skipped. No I/O: the connection feeds it, so every split of a reply parses
/// the same (a test checks this).
struct HTTP1ResponseParser {
    /// The longest head accepted (100 KiB, as libcurl's CURL_MAX_HTTP_HEADER).
    static let maxHeadBytes = 100 << 10

    enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    enum Outcome: Equatable {
        /// Every byte fed was used; the response goes on.
        case more
        /// The response ended; bytes after it (none in a sane exchange) are `extra`.
        case complete(extra: Int)
        /// The bytes are not an HTTP/1.x response; the message says why.
        case invalid(String)
        /// A callback asked to stop.
        case stopped
    }

    private(set) var head: HTTP1Head?
    private(set) var framing: Framing = .none
    private var headBuffer: [UInt8] = []
    private var remaining = 0
    private enum ChunkState { case size, data, dataEnd, trailer }
    private var chunkState = ChunkState.size
    private var lineBuffer: [UInt8] = []
    private(set) var isComplete = false

    /// Whether any byte of a response has arrived.
    var started: Bool { head != nil || !headBuffer.isEmpty }

    /// Feeds bytes. `onHead` gets the final (non-1xx) head, `onBody` each stretch of body bytes;
    /// either returns false to stop.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, onHead: (HTTP1Head) -> Bool,
                       onBody: (UnsafeRawBufferPointer) -> Bool) -> Outcome {
        var i = 0
        let n = bytes.count
        while i < n {
            if isComplete { return .complete(extra: n - i) }
            if head == nil {
                switch readHead(bytes, from: &i) {
                case .more: continue
                case .invalid(let m): return .invalid(m)
                case .complete: if !onHead(head!) { return .stopped }
                case .stopped: return .stopped
                }
                if framing == .none { isComplete = true }
                continue
            }
            switch framing {
            case .none:
                isComplete = true
            case .untilClose:
                if !onBody(UnsafeRawBufferPointer(rebasing: bytes[i..<n])) { return .stopped }
                i = n
            case .length:
                if !takeBody(bytes, from: &i, onBody: onBody) { return .stopped }
                if remaining == 0 { isComplete = true }
            case .chunked:
                switch readChunked(bytes, from: &i, onBody: onBody) {
                case .more, .complete: break
                case .invalid(let m): return .invalid(m)
                case .stopped: return .stopped
                }
            }
        }
        if head != nil && framing == .none { isComplete = true }
        return isComplete ? .complete(extra: 0) : .more
    }

    /// Hands on up to `remaining` body bytes from `i`; false when `onBody` asked to stop.
    private mutating func takeBody(_ bytes: UnsafeRawBufferPointer, from i: inout Int,
                                   onBody: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        let take = min(remaining, bytes.count - i)
        remaining -= take
        defer { i += take }
        return onBody(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + take)]))
    }

    /// The connection ended: whether that ends the response (a body framed by the close) or
    /// cuts it short.
    mutating func finishAtClose() -> Bool {
        if framing == .untilClose && head != nil { isComplete = true }
        return isComplete
    }

    // MARK: head

    private mutating func readHead(_ bytes: UnsafeRawBufferPointer, from i: inout Int) -> Outcome {
        while i < bytes.count {
            // Take everything up to the next LF at once.
            let lf = bytes[i...].firstIndex(of: 0x0A)
            let end = lf.map { $0 + 1 } ?? bytes.count
            headBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<end]))
            i = end
            if headBuffer.count > HTTP1ResponseParser.maxHeadBytes {
                return .invalid("the response head is longer than \(HTTP1ResponseParser.maxHeadBytes) bytes")
            }
            guard lf != nil else { continue }
            // A head ends at an empty line (CRLF CRLF, or bare LFs as lenient clients accept).
            let c = headBuffer.count
            if c == 1 || (c == 2 && headBuffer[0] == 0x0D) { headBuffer.removeAll(keepingCapacity: true); continue }  // blank lines before a head
            let ended = (c >= 2 && headBuffer[c - 2] == 0x0A) || (c >= 3 && headBuffer[c - 2] == 0x0D && headBuffer[c - 3] == 0x0A)
            guard ended else { continue }
            switch parseHead(headBuffer) {
            case .failure(let m): return .invalid(m.message)
            case .success(let h):
                headBuffer.removeAll(keepingCapacity: true)
                if (100..<200).contains(h.status) {
                    if h.status == 101 { return .invalid("the server switched protocols (101) on a plain request") }
                    continue  // interim response (100 Continue, 103 Early Hints): the real one follows
                }
                head = h
                switch Self.bodyFraming(of: h) {
                case .failure(let m): return .invalid(m.message)
                case .success(let f):
                    framing = f
                    if case .length(let l) = f { remaining = l; if l == 0 { framing = .none } }
                }
                return .complete(extra: 0)
            }
        }
        return .more
    }

    /// Parses a whole head on its bytes (no Foundation: this runs once per response).
    private func parseHead(_ raw: [UInt8]) -> Result<HTTP1Head, HTTP1Problem> {
        var lines = raw.split(separator: 0x0A, omittingEmptySubsequences: false).map { $0.last == 0x0D ? $0.dropLast() : $0 }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let statusLine = lines.first else { return .failure("empty response head") }
        let text = { (b: ArraySlice<UInt8>) in String(decoding: b.prefix(80), as: UTF8.self).debugDescription }
        // "HTTP/1.x NNN reason"
        let sl = Array(statusLine)
        guard sl.count >= 12, sl[0..<7].elementsEqual("HTTP/1.".utf8), sl[8] == 0x20,
              sl[9...11].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), sl.count == 12 || sl[12] == 0x20 else {
            return .failure(HTTP1Problem("not an HTTP/1.x status line: \(text(statusLine))"))
        }
        let status = sl[9...11].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        var headers: [(String, String)] = []
        headers.reserveCapacity(lines.count - 1)
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 0x3A), colon != line.startIndex else {
                return .failure(HTTP1Problem("malformed header line: \(text(line))"))
            }
            let name = line[..<colon]
            if name.contains(0x20) || name.contains(0x09) { return .failure(HTTP1Problem("malformed header name: \(text(name))")) }
            var value = line[(colon + 1)...]
            while let f = value.first, f == 0x20 || f == 0x09 { value.removeFirst() }
            while let l = value.last, l == 0x20 || l == 0x09 { value.removeLast() }
            headers.append((String(decoding: name.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 32 : $0 }, as: UTF8.self),
                            String(decoding: value, as: UTF8.self)))
        }
        return .success(HTTP1Head(version: sl[7] == 0x30 ? "1.0" : "1.1", status: status, headers: headers))
    }

    /// A header's comma-separated tokens, lowercased and trimmed ("Keep-Alive, Upgrade").
    static func tokens(_ h: HTTP1Head, _ name: String) -> [String] {
        var out: [String] = []
        for (n, v) in h.headers where n == name {
            for t in v.lowercased().split(separator: ",") {
                var s = t[...]
                while s.first == " " || s.first == "\t" { s.removeFirst() }
                while s.last == " " || s.last == "\t" { s.removeLast() }
                out.append(String(s))
            }
        }
        return out
    }

    /// How the body is delimited (RFC 9112 §6.3): none for 204 and 304, chunked when it is the
    /// last transfer coding, else Content-Length, else the connection's end.
    static func bodyFraming(of h: HTTP1Head) -> Result<Framing, HTTP1Problem> {
        if h.status == 204 || h.status == 304 { return .success(.none) }
        if let last = tokens(h, "transfer-encoding").last {
            return last == "chunked" ? .success(.chunked) : .success(.untilClose)
        }
        let lengths = Set(h.headers.filter { $0.name == "content-length" }.map(\.value))
        if lengths.count > 1 { return .failure("conflicting Content-Length headers") }
        if let l = lengths.first {
            guard !l.isEmpty, l.allSatisfy(\.isASCII), l.allSatisfy(\.isNumber), let v = Int(l) else {
                return .failure(HTTP1Problem("Content-Length is not a length: \(l.prefix(40).debugDescription)"))
            }
            return .success(.length(v))
        }
        return .success(.untilClose)
    }

    // MARK: chunked body

    private mutating func readChunked(_ bytes: UnsafeRawBufferPointer, from i: inout Int,
                                      onBody: (UnsafeRawBufferPointer) -> Bool) -> Outcome {
        let n = bytes.count
        while i < n && !isComplete {
            switch chunkState {
            case .data:
                if !takeBody(bytes, from: &i, onBody: onBody) { return .stopped }
                if remaining == 0 { chunkState = .dataEnd }
            case .size, .dataEnd, .trailer:
                guard let line = readLine(bytes, from: &i) else {
                    if lineBuffer.count > 4096 { return .invalid("a chunk-size or trailer line is longer than 4096 bytes") }
                    continue
                }
                if case .invalid(let m) = chunkLine(line) { return .invalid(m) }
            }
        }
        return isComplete ? .complete(extra: 0) : .more
    }

    /// One line of the chunked framing, by the state it arrives in.
    private mutating func chunkLine(_ line: [UInt8]) -> Outcome {
        switch chunkState {
        case .dataEnd:
            guard line.isEmpty else { return .invalid("chunk data is not followed by CRLF") }
            chunkState = .size
        case .size:
            let hex = line.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != 0x20 && $0 != 0x09 }
            guard !hex.isEmpty, hex.count <= 15, let size = Int(String(decoding: hex, as: UTF8.self), radix: 16) else {
                return .invalid("bad chunk size line: \(String(decoding: line.prefix(40), as: UTF8.self).debugDescription)")
            }
            if size == 0 { chunkState = .trailer } else { remaining = size; chunkState = .data }
        case .trailer:
            if line.isEmpty { isComplete = true }
        case .data:
            break
        }
        return .more
    }

    /// A line (without its CRLF or LF) once it is whole; partial lines wait in `lineBuffer`.
    private mutating func readLine(_ bytes: UnsafeRawBufferPointer, from i: inout Int) -> [UInt8]? {
        while i < bytes.count {
            let b = bytes[i]
            i += 1
            if b == 0x0A {
                var line = lineBuffer
                lineBuffer.removeAll(keepingCapacity: true)
                if line.last == 0x0D { line.removeLast() }
                return line
            }
            lineBuffer.append(b)
            if lineBuffer.count > 4096 { return nil }
        }
        return nil
    }
}

/// Why a response or an endpoint cannot be used, in words for a record's message.
struct HTTP1Problem: Error, Equatable, ExpressibleByStringInterpolation {
    let message: String
    init(_ message: String) { self.message = message }
    init(stringLiteral value: String) { message = value }
}
