#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Monotonic clock in nanoseconds.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

func errnoText(_ e: Int32 = errno) -> String { String(cString: strerror(e)) }

/// A pthread mutex around a value (the package supports macOS 14, where `Synchronization.Mutex`
/// is unavailable).
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private var mutex = pthread_mutex_t()

    init(_ value: Value) {
        self.value = value
        pthread_mutex_init(&mutex, nil)
    }

    deinit { pthread_mutex_destroy(&mutex) }

    @inline(__always)
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body(&value)
    }
}

/// A pending wake-up: `slot` names a connection, `token` must still match the connection's
/// current timer token (otherwise the entry is stale and skipped).
struct TimerEntry {
    var deadline: UInt64
    var slot: Int32
    var token: UInt32
}

/// A binary min-heap on deadlines.
struct TimerHeap {
    private(set) var items: ContiguousArray<TimerEntry> = []

    init() { items.reserveCapacity(1024) }

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }
    var top: TimerEntry? { items.first }

    mutating func push(_ e: TimerEntry) {
        items.append(e)
        var i = items.count - 1
        items.withUnsafeMutableBufferPointer { a in
            while i > 0 {
                let p = (i - 1) >> 1
                if a[p].deadline <= e.deadline { break }
                a[i] = a[p]
                i = p
            }
            a[i] = e
        }
    }

    mutating func pop() -> TimerEntry {
        let first = items[0]
        let last = items.removeLast()
        if items.isEmpty { return first }
        items.withUnsafeMutableBufferPointer { a in
            let n = a.count
            var i = 0
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                let r = l + 1
                let c = (r < n && a[r].deadline < a[l].deadline) ? r : l
                if a[c].deadline >= last.deadline { break }
                a[i] = a[c]
                i = c
            }
            a[i] = last
        }
        return first
    }

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }
}

// MARK: byte helpers

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendASCII(_ s: StaticString) {
        s.withUTF8Buffer { append(contentsOf: $0) }
    }

    mutating func appendDecimal(_ v: Int) {
        if v < 0 {
            append(UInt8(ascii: "-"))
            appendDecimal(UInt64(-v))
        } else {
            appendDecimal(UInt64(v))
        }
    }

    mutating func appendDecimal(_ v: UInt64) {
        if v < 10 {
            append(0x30 &+ UInt8(v))
            return
        }
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)
        Swift.withUnsafeMutableBytes(of: &tmp) { buf in
            var x = v
            var i = 24
            while x > 0 {
                i -= 1
                buf[i] = 0x30 &+ UInt8(x % 10)
                x /= 10
            }
            append(contentsOf: buf[i..<24])
        }
    }

    mutating func appendHex(_ v: Int) {
        let digits: StaticString = "0123456789abcdef"
        var shift = 60
        while shift > 0 && (v >> shift) & 0xF == 0 { shift -= 4 }
        digits.withUTF8Buffer { d in
            while shift >= 0 {
                append(d[(v >> shift) & 0xF])
                shift -= 4
            }
        }
    }

    /// A JSON string literal (quotes included).
    mutating func appendJSONString(_ s: String) {
        let w = JSONStringEscaper()
        w.append(s, to: &self)
    }
}

struct JSONStringEscaper {
    func append(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let hex: StaticString = "0123456789abcdef"
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(0x5C); out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(0x5C); out.append(UInt8(ascii: "u")); out.append(0x30); out.append(0x30)
                hex.withUTF8Buffer { h in
                    out.append(h[Int(b >> 4)])
                    out.append(h[Int(b & 15)])
                }
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
