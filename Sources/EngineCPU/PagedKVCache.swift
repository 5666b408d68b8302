import BenchCore

/// The real storage behind the engine's KV block manager: for every layer, a pool of blocks of
/// `blockSize` token slots, each slot holding the token's keys and values for every KV head.
/// The block ids the engine allocates index this pool directly, so what the scheduler decides
/// (sharing a prefix's blocks, freeing a preempted request's) is what the attention reads.
///
/// Layout per layer and per K/V: `[block][kvHead][slot][headDim]`, so one head's slice of a
/// block is contiguous and attention gathers a head's context a block at a time.
public final class PagedKVCache: @unchecked Sendable {
    public let numBlocks: Int
    public let blockSize: Int
    public let numLayers: Int
    public let numKVHeads: Int
    public let headDim: Int
    /// Floats in one layer's K (or V) slice of one block.
    let blockStride: Int
    private let keys: UnsafeMutablePointer<Float>
    private let values: UnsafeMutablePointer<Float>
    private let layerStride: Int

    /// Bytes one block takes over all layers, K and V.
    public static func bytesPerBlock(blockSize: Int, numLayers: Int, kvDim: Int) -> Int {
        2 * numLayers * blockSize * kvDim * MemoryLayout<Float>.size
    }

    public init(numBlocks: Int, blockSize: Int, numLayers: Int, numKVHeads: Int, headDim: Int) {
        precondition(numBlocks > 0 && blockSize > 0)
        self.numBlocks = numBlocks
        self.blockSize = blockSize
        self.numLayers = numLayers
        self.numKVHeads = numKVHeads
        self.headDim = headDim
        blockStride = numKVHeads * blockSize * headDim
        layerStride = numBlocks * blockStride
        let total = numLayers * layerStride
        keys = .allocate(capacity: total)
        values = .allocate(capacity: total)
        // Pages are touched on first write; no need to zero memory the engine has not handed out.
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Where head `head` of token slot `slot` of `block` starts in layer `layer`'s keys.
    @inline(__always)
    func offset(layer: Int, block: Int32, head: Int, slot: Int) -> Int {
        layer * layerStride + Int(block) * blockStride + (head * blockSize + slot) * headDim
    }

    /// Stores one token's keys and values (`kvDim` floats each, heads in order) at `position` of a
    /// sequence whose blocks are `blocks`.
    @inline(__always)
    func store(layer: Int, blocks: UnsafeBufferPointer<Int32>, position: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>) {
        let block = blocks[position / blockSize], slot = position % blockSize
        for h in 0..<numKVHeads {
            let o = offset(layer: layer, block: block, head: h, slot: slot)
            (keys + o).update(from: k + h * headDim, count: headDim)
            (values + o).update(from: v + h * headDim, count: headDim)
        }
    }

    /// Block 0's key and value rows of `head` in `layer`: block b's are `blockStride` floats on.
    func base(layer: Int, head: Int) -> (keys: UnsafePointer<Float>, values: UnsafePointer<Float>) {
        let o = offset(layer: layer, block: 0, head: head, slot: 0)
        return (UnsafePointer(keys + o), UnsafePointer(values + o))
    }

    /// Copies head `head`'s keys and values for positions `0..<length` into contiguous
    /// `[length][headDim]` buffers.
    func gather(layer: Int, blocks: UnsafeBufferPointer<Int32>, head: Int, length: Int,
                k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>) {
        var pos = 0
        var b = 0
        while pos < length {
            let n = min(blockSize, length - pos)
            let o = offset(layer: layer, block: blocks[b], head: head, slot: 0)
            (k + pos * headDim).update(from: keys + o, count: n * headDim)
            (v + pos * headDim).update(from: values + o, count: n * headDim)
            pos += n
            b += 1
        }
    }
}
