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

