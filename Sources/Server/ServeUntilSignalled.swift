import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension ServeServer {
    /// Serves from this (synchronous) thread until one of `stopSignals` arrives, then drains
    /// (`shutdown`) and returns. The signals must already be blocked in every thread (threads
    /// inherit the mask, so block them before any starts); one thread takes them with
    /// `sigwait`. `onListening` gets the bound port, `onSignal` the signal taken.
    public func runUntilSignalled(host: String, port: Int, stopSignals: sigset_t,
                                  onListening: @escaping @Sendable (Int) -> Void,
                                  onSignal: @escaping @Sendable (Int32) -> Void) throws {
        let waitSet = UncheckedSet(set: stopSignals)
        let signals = Thread {
            var sig: Int32 = 0
            var ws = waitSet.set
            sigwait(&ws, &sig)
            onSignal(sig)
            let s = DispatchSemaphore(value: 0)
            Task {
                await self.shutdown()
                s.signal()
            }
            s.wait()
        }
        signals.start()
        let done = DispatchSemaphore(value: 0)
        let failure = LockedError()
        Task {
            do {
                try await run(host: host, port: port, onBound: onListening)
            } catch {
                failure.set(error)
            }
            done.signal()
        }
        done.wait()
        if let e = failure.get() { throw e }
    }
}

private struct UncheckedSet: @unchecked Sendable { let set: sigset_t }

/// The serving task's error, handed to the waiting thread.
private final class LockedError: @unchecked Sendable {
    private var error: Error?
    private let lock = NSLock()
    func set(_ e: Error) { lock.lock(); error = e; lock.unlock() }
    func get() -> Error? { lock.lock(); defer { lock.unlock() }; return error }
}
