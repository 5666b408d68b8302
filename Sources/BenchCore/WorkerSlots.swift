#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Result slots for concurrent workers: each index is written by the worker that claimed it
/// (`claimNext` hands indices out in order, so a slow item does not hold up the others), and
/// the values are read once the workers have joined.
public final class WorkerSlots<T>: @unchecked Sendable {
    private var items: [T?]
    private var nextUnclaimed = 0
    private var mutex = pthread_mutex_t()

    public init(count: Int) {
        items = Array(repeating: nil, count: count)
        pthread_mutex_init(&mutex, nil)
    }

    deinit { pthread_mutex_destroy(&mutex) }

    private func locked<R>(_ f: () -> R) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return f()
    }

    public func set(_ i: Int, _ v: T) { locked { items[i] = v } }
    public func get(_ i: Int) -> T? { locked { items[i] } }
    /// Every slot, in index order (nil where nothing was written).
    public var values: [T?] { locked { items } }

    /// The next index no worker has taken, or nil when all are taken.
    public func claimNext() -> Int? {
        locked {
            guard nextUnclaimed < items.count else { return nil }
            nextUnclaimed += 1
            return nextUnclaimed - 1
        }
    }
}

/// A value handed to concurrent workers that the caller knows is safe to share (read-only, or
/// whose closures are thread-safe), where the type system cannot tell.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
