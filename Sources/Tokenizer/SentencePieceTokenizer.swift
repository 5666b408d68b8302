import BenchCore

/// A SentencePiece BPE vocabulary (pieces with scores, as GGUF's `tokenizer.ggml.model = "llama"`
/// stores Llama-2-style tokenizers), applied as llama.cpp's SPM tokenizer applies it:
/// - control and user-defined pieces written in the text are split out first and kept whole;
/// - in each stretch of text between them, spaces become "▁", with one "▁" prepended to a
///   stretch at the start or after a control piece (`addSpacePrefix`);
/// - starting from single characters, the adjacent pair whose concatenation is a piece with the
///   highest score merges, the leftmost first among equal scores, until no pair is a piece;
/// - a character outside the vocabulary becomes the `<0xNN>` pieces of its UTF-8 bytes (byte
///   fallback), or the unknown piece without them.
/// SentencePiece's own BPE gives the same ids on vocabularies whose pieces never span a word
/// boundary (checked against both by Tests/ModelsTests/Fixtures/tiny-spm-reference.json).
///
/// `encode` adds no BOS. Thread-safe: immutable. A class, as `BPETokenizer` is: a model's
/// tokenizer is shared, not copied.
public final class SentencePieceTokenizer: Sendable {
    /// Piece kinds, numbered as GGUF's `tokenizer.ggml.token_type`.
    public enum PieceType: Int, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    let pieces: [[UInt8]]
    let types: [PieceType]
    let scores: [Float]
    let idsByBytes: [[UInt8]: Int32]
    /// The `<0xNN>` piece of each byte (-1: none).
    let byteIDs: [Int32]
    let unkID: Int32?
    let addSpacePrefix: Bool
    /// Control and user-defined pieces, matched whole in the text, longest first.
    let special: [([UInt8], Int32)]

    public var vocabSize: Int { pieces.count }

    /// `types` holds GGUF token-type numbers (an unknown number is a normal piece).
    public init(pieces: [String], scores: [Float], types: [Int], unkID: Int32?, addSpacePrefix: Bool,
                file: String) throws(BenchError) {
        guard scores.count == pieces.count else {
            throw BenchError.data(file, field: "tokenizer.ggml.scores", "has \(scores.count) scores for \(pieces.count) tokens")
        }
        guard types.isEmpty || types.count == pieces.count else {
            throw BenchError.data(file, field: "tokenizer.ggml.token_type", "has \(types.count) types for \(pieces.count) tokens")
        }
        self.pieces = pieces.map { Array($0.utf8) }
        self.types = pieces.indices.map { i in types.isEmpty ? .normal : PieceType(rawValue: types[i]) ?? .normal }
        self.scores = scores
        var byBytes: [[UInt8]: Int32] = [:]
        var bytes = [Int32](repeating: -1, count: 256)
        var special: [([UInt8], Int32)] = []
        for (i, p) in self.pieces.enumerated() {
            let id = Int32(i)
            if byBytes[p] == nil { byBytes[p] = id }
            switch self.types[i] {
            case .byte:
                if let b = Self.byteValue(pieces[i]), bytes[Int(b)] < 0 { bytes[Int(b)] = id }
            case .control, .userDefined:
                if !p.isEmpty { special.append((p, id)) }
            default: break
            }
        }
        idsByBytes = byBytes
        byteIDs = bytes
        self.special = special.sorted { $0.0.count > $1.0.count }
        self.unkID = unkID
        self.addSpacePrefix = addSpacePrefix
    }

    /// "<0x41>" → 0x41.
    static func byteValue(_ piece: String) -> UInt8? {
        guard piece.count == 6, piece.hasPrefix("<0x"), piece.hasSuffix(">") else { return nil }
        return UInt8(piece.dropFirst(3).prefix(2), radix: 16)
    }

    static let spaceMark: [UInt8] = Array("▁".utf8)

    public func encode(_ text: String) -> [Int32] {
        var out: [Int32] = []
        var afterSpecial = true
        for fragment in fragments(Array(text.utf8)) {
            switch fragment {
            case .piece(let id):
                out.append(id)
                afterSpecial = true
            case .text(let bytes):
                var normalized: [UInt8] = addSpacePrefix && afterSpecial ? Self.spaceMark : []
                for b in bytes { if b == 0x20 { normalized += Self.spaceMark } else { normalized.append(b) } }
                encodeStretch(normalized, into: &out)
                afterSpecial = false
            }
        }
        return out
    }

    enum Fragment {
        case text(ArraySlice<UInt8>)
        case piece(Int32)
    }

    /// The text split around the control and user-defined pieces written in it.
    func fragments(_ bytes: [UInt8]) -> [Fragment] {
        guard !special.isEmpty else { return bytes.isEmpty ? [] : [.text(bytes[...])] }
        var out: [Fragment] = []
        var start = 0, i = 0
        scan: while i < bytes.count {
            for (p, id) in special where bytes[i] == p[0] && i + p.count <= bytes.count && bytes[i..<(i + p.count)].elementsEqual(p) {
                if i > start { out.append(.text(bytes[start..<i])) }
                out.append(.piece(id))
                i += p.count
                start = i
                continue scan
            }
            i += 1
        }
        if start < bytes.count { out.append(.text(bytes[start...])) }
        return out
    }

    /// A symbol of the merge: a byte range of the stretch, linked to its neighbours.
    struct Symbol {
        var start: Int
        var count: Int
        var prev: Int
        var next: Int
    }

    /// The merge over one normalized stretch (llama.cpp's SPM order: best score, then leftmost).
    func encodeStretch(_ s: [UInt8], into out: inout [Int32]) {
        guard !s.isEmpty else { return }
        var symbols: [Symbol] = []
        var i = 0
        while i < s.count {
            let n = Self.utf8Length(s[i])
            let count = min(n, s.count - i)
            symbols.append(Symbol(start: i, count: count, prev: symbols.count - 1, next: i + count < s.count ? symbols.count + 1 : -1))
            i += count
        }
        var queue = BigramQueue()
        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let a = symbols[left], b = symbols[right]
            guard let id = idsByBytes[Array(s[a.start..<(b.start + b.count)])] else { return }
            queue.push(Bigram(score: scores[Int(id)], left: left, right: right, count: a.count + b.count))
        }
        for k in 1..<symbols.count { consider(k - 1, k) }
        while let g = queue.pop() {
            let a = symbols[g.left], b = symbols[g.right]
            // Stale: one side has merged since the pair was queued.
            guard a.count > 0, b.count > 0, a.count + b.count == g.count, a.next == g.right else { continue }
            symbols[g.left].count += b.count
            symbols[g.right].count = 0
            symbols[g.left].next = b.next
            if b.next >= 0 { symbols[b.next].prev = g.left }
            consider(a.prev, g.left)
            consider(g.left, b.next)
        }
        var k = 0
        while k >= 0 && k < symbols.count {
            let sym = symbols[k]
            let bytes = Array(s[sym.start..<(sym.start + sym.count)])
            if let id = idsByBytes[bytes] {
                out.append(id)
            } else {
                for b in bytes {
                    if byteIDs[Int(b)] >= 0 { out.append(byteIDs[Int(b)]) } else if let unkID { out.append(unkID) }
                }
            }
            k = sym.next
        }
    }

    static func utf8Length(_ lead: UInt8) -> Int {
        switch lead {
        case 0xF0...: return 4
        case 0xE0...: return 3
        case 0xC0...: return 2
        default: return 1
        }
    }

    /// Text of `ids`: "▁" as spaces, byte pieces as their bytes, control pieces as nothing; one
    /// leading space (the prepended "▁") is dropped, as Hugging Face's Llama decoder does.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < pieces.count {
            switch types[Int(id)] {
            case .control, .unused: continue
            case .byte:
                if let b = Self.byteValue(String(decoding: pieces[Int(id)], as: UTF8.self)) { bytes.append(b) }
            default:
                let p = pieces[Int(id)]
                var j = 0
                while j < p.count {
                    if j + 3 <= p.count, p[j] == 0xE2, p[j + 1] == 0x96, p[j + 2] == 0x81 {
                        bytes.append(0x20)
                        j += 3
                    } else {
                        bytes.append(p[j])
                        j += 1
                    }
                }
            }
        }
        if addSpacePrefix, bytes.first == 0x20 { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A queued merge candidate.
struct Bigram {
    var score: Float
    var left: Int
    var right: Int
    /// Bytes of the merged symbol when queued (a changed length marks the entry stale).
    var count: Int

    /// Pops first: the higher score, then the leftmost pair.
    func precedes(_ o: Bigram) -> Bool { score > o.score || (score == o.score && left < o.left) }
}

/// A binary heap of bigrams, best first.
struct BigramQueue {
    private var heap: [Bigram] = []

    mutating func push(_ b: Bigram) {
        heap.append(b)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Bigram? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < heap.count, heap[l].precedes(heap[best]) { best = l }
                if r < heap.count, heap[r].precedes(heap[best]) { best = r }
                if best == i { break }
                heap.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}
