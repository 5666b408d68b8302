import BenchCore
@testable import EngineCPU
import Foundation
import Testing

/// The CPU engine's worker pool runs every iteration exactly once, however many callers share it,
/// and a forward pass gives the same logits whatever the thread count.
struct WorkerPoolTests {
    @Test func everyIterationRunsOnce() throws {
        let pool = try #require(WorkerPool(threads: 3))
        #expect(pool.threads == 3)
        for n in [0, 1, 2, 3, 5, 64, 1000] {
            let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(1, n))
            defer { counts.deallocate() }
            counts.initialize(repeating: 0)
            let box = UnsafeSendable(counts)
            for _ in 0..<50 { pool.run(iterations: n) { box.value[$0] += 1 } }
            #expect((0..<n).allSatisfy { counts[$0] == 50 }, "n = \(n)")
        }
    }

    /// Callers on several threads at once: one gets the workers, the others run their shares
    /// themselves; every result is whole.
    @Test func concurrentCallersEachGetEveryIteration() throws {
        let pool = try #require(WorkerPool(threads: 2))
        let sums = UnsafeSendable(UnsafeMutableBufferPointer<Int>.allocate(capacity: 4))
        defer { sums.value.deallocate() }
        sums.value.initialize(repeating: 0)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            var total = 0
            for _ in 0..<200 {
                let parts = UnsafeSendable(UnsafeMutableBufferPointer<Int>.allocate(capacity: 37))
                parts.value.initialize(repeating: 0)
                pool.run(iterations: 37) { parts.value[$0] = $0 + 1 }
                total += parts.value.reduce(0, +)
                parts.value.deallocate()
            }
            sums.value[caller] = total
        }
        #expect(Array(sums.value) == Array(repeating: 200 * 37 * 38 / 2, count: 4))
    }

    /// Decodes (the pooled attention path) and a prefill chunk in one batch: the same logits,
    /// bit for bit, on one thread and on three.
    @Test func forwardIsTheSameOnOneThreadAndOnSeveral() {
        let toks = ForwardIdentityTests.tokens(40, seed: 5)
        func run(threads: Int) -> [[Float]] {
            LlamaCPU.setThreads(threads)
            let m = ForwardIdentityTests.model()
            _ = m.forward([SequenceChunk(tokens: Array(toks[0..<20]), startPosition: 0, blocks: [0, 1, 2, 3, 4, 5], wantsLogits: false),
                           SequenceChunk(tokens: Array(toks[20..<30]), startPosition: 0, blocks: [10, 11, 12], wantsLogits: false)])
            return m.forward([SequenceChunk(tokens: [toks[30]], startPosition: 20, blocks: [0, 1, 2, 3, 4, 5], wantsLogits: true),
                              SequenceChunk(tokens: [toks[31]], startPosition: 10, blocks: [10, 11, 12], wantsLogits: true),
                              SequenceChunk(tokens: Array(toks[32..<40]), startPosition: 0, blocks: [20, 21], wantsLogits: true)])
        }
        let one = run(threads: 1), three = run(threads: 3)
        LlamaCPU.setThreads(1)
        #expect(one.count == 3 && one == three)
    }
}
