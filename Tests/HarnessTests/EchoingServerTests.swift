import BenchCore
import Foundation
import LoadGen
import Reporting
import Testing
@testable import Harness
#if canImport(Glibc)
import Glibc
#endif

/// A hostile server that answers every request 401 with the request's Authorization header in
/// the body (as some servers' error pages do). Loopback, one thread, connection per request.
final class EchoingServer: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private var thread: Thread?
    private var stopped = false

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0, listen(fd, 64) == 0 else { throw BenchError.io("echo server", "bind/listen failed") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let t = Thread { [unowned self] in serve() }
        thread = t
        t.start()
    }

    private func serve() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { return }
            var head = [UInt8]()
            var buf = [UInt8](repeating: 0, count: 4096)
            // The head ends at the first blank line (the body may come in the same read).
            while String(decoding: head, as: UTF8.self).range(of: "\r\n\r\n") == nil {
                let n = read(c, &buf, buf.count)
                if n <= 0 { break }
                head += buf[0..<n]
            }
            let text = String(decoding: head, as: UTF8.self)
            let auth = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("authorization:") }.map(String.init) ?? "none"
            let body = #"{"error":{"message":"invalid credentials: \#(auth)","type":"auth"}}"#
            let reply = "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
            _ = reply.withCString { write(c, $0, strlen($0)) }
            close(c)
        }
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

@Suite(.serialized) struct EchoingServerTests {
    /// The key from the environment (here the options' `apiKey`) and a credential `--header`
    /// come back in the server's error text; neither is written, the rest of the message is.
    @Test func echoedCredentialsAreRedactedFromRecords() throws {
        let server = try EchoingServer()
        defer { server.stop() }
        let dir = try TempDir()
        for (key, headers) in [("sk-echo-\(UUID().uuidString)", [String]()), ("", ["Authorization: Bearer hdr-\(UUID().uuidString)"])] {
            var o = EndpointOptions(url: "http://127.0.0.1:\(server.port)", request: OpenAIRequestOptions(model: "m"))
            o.apiKey = key.isEmpty ? nil : key
            o.headers = headers
            o.connectTimeoutS = 60
            let secret = key.isEmpty ? String(headers[0].split(separator: " ").last!) : key
            let out = dir.file("run-\(key.isEmpty ? "header" : "key")")
            let r = try Harness.run(try smokeWorkload(count: 4, rate: 20), on: HTTPTarget(options: o), output: out)
            #expect(r.summary.overall.total == 4)
            let records = String(decoding: try Data(contentsOf: URL(fileURLWithPath: out + "/requests.jsonl")), as: UTF8.self)
            #expect(!records.contains(secret), "the credential was written: \(records.prefix(300))")
            #expect(records.contains("invalid credentials"), "\(records.prefix(300))")
            #expect(records.contains(EndpointOptions.redactedMark))
            #expect(!r.summary.valid)
        }
    }
}
