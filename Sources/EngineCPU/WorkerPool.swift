import CKernels
import Foundation

/// The CPU engine's worker threads (CKernels' `ab_pool`): parallel loops over iterations spread
/// round-robin over a fixed set of threads that spin between loops (see pool.c for why).
final class WorkerPool: @unchecked Sendable {
    /// Iterations a worker spins (plain loads of the generation counter) after a loop before it
    /// sleeps: tens of µs here, longer than the gaps between a decode step's loops (a few µs).
    /// Our choice, by measurement (`bench cpu --batches 1`, 2 threads, this VM): 2,000 gave
    /// 54-65 tok/s, 20,000 gave 65-82, 200,000 gave 58-71 (spinning longer only burns the VM's
    /// CPU time). Without the `pause` instruction: under KVM a pause loop makes the host take the
    /// spinning vCPU away (pause-loop exiting); with it the same setting gave 52-79.
    static let spinIterations = 20_000

    private let pool: OpaquePointer
    let threads: Int

    init?(threads: Int) {
        guard let p = ab_pool_create(Int32(max(1, threads)), Self.spinIterations) else { return nil }
        pool = p
        self.threads = Int(ab_pool_threads(p))
    }

    deinit { ab_pool_destroy(pool) }

    /// Runs `body(i)` for every i in 0..<iterations, thread t taking i = t, t + threads, …;
    /// returns when all have run.
    func run(iterations: Int, _ body: (Int) -> Void) {
        guard iterations > 0 else { return }
        if iterations == 1 || threads == 1 {
            for i in 0..<iterations { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let job = Job(body: escapable, iterations: iterations)
            withExtendedLifetime(job) {
                ab_pool_run(pool, { context, thread, threads in
                    let job = Unmanaged<Job>.fromOpaque(context!).takeUnretainedValue()
                    var i = Int(thread)
                    while i < job.iterations {
                        job.body(i)
                        i += Int(threads)
                    }
                }, Unmanaged.passUnretained(job).toOpaque())
            }
        }
    }

    private final class Job {
        let body: (Int) -> Void
        let iterations: Int
        init(body: @escaping (Int) -> Void, iterations: Int) {
            self.body = body
            self.iterations = iterations
        }
    }
}
