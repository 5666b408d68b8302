/// A paged KV-cache allocator: fixed-size blocks handed out by id, reference-counted so a cached
/// prompt prefix can be shared by several requests. Allocation returns nil when the request does
/// not fit, and the caller decides whom to preempt.
public struct KVBlockManager: Sendable {
    public let totalBlocks: Int
    public let blockSizeTokens: Int
    private var freeList: [Int32]
    private var refCount: [UInt32]
    /// Blocks with at least one holder.
    public private(set) var usedBlocks = 0

    public init(totalBlocks: Int, blockSizeTokens: Int) {
        precondition(totalBlocks > 0 && blockSizeTokens > 0)
        self.totalBlocks = totalBlocks
        self.blockSizeTokens = blockSizeTokens
        // Lowest ids on top of the stack, so allocation order is deterministic and readable.
        freeList = (0..<Int32(totalBlocks)).reversed()
        refCount = [UInt32](repeating: 0, count: totalBlocks)
    }

    public var freeBlocks: Int { freeList.count }

    /// Blocks needed to hold `tokens` tokens.
    @inline(__always)
    public func blocksFor(tokens: Int) -> Int { (tokens + blockSizeTokens - 1) / blockSizeTokens }

    /// `n` blocks, each with one holder, or nil if fewer are free (nothing is taken then).
    public mutating func allocate(_ n: Int) -> [Int32]? {
        guard n <= freeList.count else { return nil }
        guard n > 0 else { return [] }
        let out = Array(freeList.suffix(n))
        freeList.removeLast(n)
        for b in out { refCount[Int(b)] = 1 }
        usedBlocks += n
        return out
    }

    /// Appends `n` newly held blocks to `out` (no array of its own: the decode hot path), or
    /// returns false, taking nothing, if fewer are free.
    public mutating func allocate(_ n: Int, appendingTo out: inout [Int32]) -> Bool {
        guard n <= freeList.count else { return false }
        guard n > 0 else { return true }
        let start = freeList.count - n
        for k in start..<freeList.count {
            let b = freeList[k]
            refCount[Int(b)] = 1
            out.append(b)
        }
        freeList.removeLast(n)
        usedBlocks += n
        return true
    }

    /// One more holder for each block (a request sharing a cached prefix).
    public mutating func retain(_ blocks: [Int32]) {
        for b in blocks {
            precondition(refCount[Int(b)] > 0, "retain of a free block")
            refCount[Int(b)] += 1
        }
    }

    /// One holder fewer for each block; a block with none left returns to the free list.
    public mutating func free(_ blocks: [Int32]) {
        for b in blocks {
            let i = Int(b)
            precondition(refCount[i] > 0, "double free of block \(b)")
            refCount[i] -= 1
            if refCount[i] == 0 {
                freeList.append(b)
                usedBlocks -= 1
            }
        }
    }

    /// Holders of a block.
    public func holders(_ b: Int32) -> Int { Int(refCount[Int(b)]) }

    /// free + used == total; each block's holder count equals its appearances in `held` (every
    /// request's and cache entry's block list); the free list is exactly the blocks nobody holds.
    public func invariantViolations(held: [[Int32]]) -> [String] {
        var problems: [String] = []
        if freeList.count + usedBlocks != totalBlocks {
            problems.append("free \(freeList.count) + used \(usedBlocks) != total \(totalBlocks)")
        }
        var expected = [UInt32](repeating: 0, count: totalBlocks)
        for list in held {
            for b in list {
                let i = Int(b)
                if i < 0 || i >= totalBlocks { problems.append("block id \(b) out of range"); continue }
                expected[i] += 1
            }
        }
        var inFree = [Bool](repeating: false, count: totalBlocks)
        for b in freeList {
            if inFree[Int(b)] { problems.append("block \(b) is on the free list twice") }
            inFree[Int(b)] = true
        }
        for i in 0..<totalBlocks {
            if expected[i] != refCount[i] {
                problems.append("block \(i) has \(refCount[i]) holders recorded but \(expected[i]) hold it")
                break
            }
            if (refCount[i] == 0) != inFree[i] {
                problems.append("block \(i) is \(inFree[i] ? "free" : "not free") with \(refCount[i]) holders")
                break
            }
        }
        if usedBlocks != refCount.lazy.filter({ $0 > 0 }).count { problems.append("used count \(usedBlocks) is off") }
        return problems
    }
}
