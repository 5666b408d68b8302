import BenchCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A loopback server that answers every request with the same raw bytes (head and body, as
/// given) and closes the connection: faults the mock server does not make (redirects, encodings
/// nobody asked for, oversized events). One thread, one connection at a time.
final class CannedServer: @unchecked Sendable {
    let fd: Int32
    let port: Int
    let reply: [UInt8]

    init(reply: [UInt8]) throws {
        self.reply = reply
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0, listen(fd, 64) == 0 else { throw BenchError.io("canned server", "bind/listen failed") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread { [self] in serve() }.start()
    }

    convenience init(head: String, body: [UInt8]) throws {
        try self.init(reply: Array((head + "\r\n\r\n").utf8) + body)
    }

    private func serve() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 {
                // Closed here, not in stop(): a new server must not get this descriptor's number
                // while this thread could still accept on it.
                close(fd)
                return
            }
            var head = [UInt8]()
            var buf = [UInt8](repeating: 0, count: 65536)
            while String(decoding: head, as: UTF8.self).range(of: "\r\n\r\n") == nil {
                let n = read(c, &buf, buf.count)
                if n <= 0 { break }
                head += buf[0..<n]
            }
            var sent = 0
            reply.withUnsafeBytes { raw in
                while sent < raw.count {
                    let n = write(c, raw.baseAddress! + sent, raw.count - sent)
                    if n <= 0 { break }
                    sent += n
                }
            }
            shutdown(c, Int32(SHUT_WR))
            // Let the client read everything before the socket goes away.
            while read(c, &buf, buf.count) > 0 {}
            close(c)
        }
    }

    /// Wakes the accepting thread, which closes the socket and ends.
    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
    }
}
