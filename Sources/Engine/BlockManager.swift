/// A paged KV-cache allocator: fixed-size blocks handed out by id. Allocation returns nil when
/// the request does not fit, and the caller decides whom to preempt.
public struct KVBlockManager: Sendable {
    public let totalBlocks: Int
    public let blockSizeTokens: Int
    private var freeList: [Int32]
    public private(set) var usedBlocks = 0

    public init(totalBlocks: Int, blockSizeTokens: Int) {
        precondition(totalBlocks > 0 && blockSizeTokens > 0)
        self.totalBlocks = totalBlocks
        self.blockSizeTokens = blockSizeTokens
        // Lowest ids on top of the stack, so allocation order is deterministic and readable.
        freeList = (0..<Int32(totalBlocks)).reversed()
    }

    public var freeBlocks: Int { freeList.count }

    /// Blocks needed to hold `tokens` tokens.
    @inline(__always)
    public func blocksFor(tokens: Int) -> Int { (tokens + blockSizeTokens - 1) / blockSizeTokens }

    /// `n` blocks, or nil if fewer are free (nothing is taken then).
    public mutating func allocate(_ n: Int) -> [Int32]? {
        guard n <= freeList.count else { return nil }
        guard n > 0 else { return [] }
        let out = Array(freeList.suffix(n))
        freeList.removeLast(n)
        usedBlocks += n
        return out
    }

    public mutating func free(_ blocks: [Int32]) {
        freeList.append(contentsOf: blocks)
        usedBlocks -= blocks.count
    }

    /// free + used == total, and every id appears exactly once among the free list and `held`.
    public func invariantViolations(held: [[Int32]]) -> [String] {
        var problems: [String] = []
        if freeList.count + usedBlocks != totalBlocks {
            problems.append("free \(freeList.count) + used \(usedBlocks) != total \(totalBlocks)")
        }
        let heldCount = held.reduce(0) { $0 + $1.count }
        if heldCount != usedBlocks { problems.append("requests hold \(heldCount) blocks but \(usedBlocks) are used") }
        var seen = [Bool](repeating: false, count: totalBlocks)
        for b in freeList + held.flatMap({ $0 }) {
            let i = Int(b)
            if i < 0 || i >= totalBlocks { problems.append("block id \(b) out of range"); continue }
            if seen[i] { problems.append("block \(b) is both free and held, or held twice") }
            seen[i] = true
        }
        return problems
    }
}
