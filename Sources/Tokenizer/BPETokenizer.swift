import BenchCore
import Foundation

/// A Hugging Face `tokenizer.json` BPE tokenizer, so text prompts can be exactly the requested
/// number of tokens for a server's model (`--tokenizer`).
///
/// Supported (checked against the Python `tokenizers` library by the fixtures in
/// Tests/TokenizerTests/Fixtures):
/// - model `BPE`: `vocab`, `merges` (both the `"a b"` and the `["a", "b"]` forms), `unk_token`,
///   `fuse_unk`, `byte_fallback`, `ignore_merges`;
/// - `added_tokens` (special or not), split out first, with `single_word`, `lstrip`, `rstrip`
///   and `normalized`;
/// - normalizers: none, `NFC`, `NFD`, `NFKC`, `NFKD`, `Prepend`, `Replace` (string patterns),
///   and `Sequence`s of them;
/// - pre-tokenizers: `ByteLevel` (GPT-2 regex, `add_prefix_space`, `use_regex`), `Split` with the
///   GPT-2, Llama-3 or Qwen2 regex (`Isolated`, not inverted), `Metaspace` (`prepend_scheme`,
///   `split`), `Digits`, and `Sequence`s of them: GPT-2/Llama-3/Qwen2/StarCoder-style byte-level
///   BPE and Llama-2-style SentencePiece BPE ("▁" spaces, byte fallback).
/// - decoders: `ByteLevel`, `Metaspace`, `Replace` (string patterns), `ByteFallback`, `Fuse`,
///   `Strip`, `Sequence`.
///
/// Anything else in the model, normalizer or pre-tokenizer (another model type, WordPiece-style
/// prefixes, an unknown split regex such as GPT-4o's, `Lowercase`, `Punctuation`…) is rejected with a
/// `BenchError.data` naming the file and field, rather than giving wrong counts. An unsupported
/// decoder falls back to the model's natural one (decoding is not used for prompt lengths).
///
/// The split regexes are matched by hand with the standard library's Unicode properties
/// (`\p{L}`: general category L*, `\p{N}`: N*, `\s`: White_Space), as Oniguruma does; the two can
/// differ only for characters assigned in Unicode versions one of them lacks.
///
/// `encode` adds no special tokens (no BOS); special tokens written in the text are recognised.
/// Thread-safe: the word cache is behind a lock.
public final class BPETokenizer: @unchecked Sendable {
    // MARK: Model

    /// Token ids by the bytes a token stands for (byte-level vocabularies: the bytes its
    /// characters map back to; others: its UTF-8).
    let vocabByBytes: [ArraySlice<UInt8>: Int32]
    /// Byte-level models: the id of each byte's token (-1 when the vocabulary lacks it).
    let byteIDs: [Int32]
    /// Other models: ids of the single-scalar tokens.
    let scalarIDs: [UInt32: Int32]
    /// `byte_fallback`: the id of each byte's `<0xNN>` token (-1: missing).
    let byteFallbackIDs: [Int32]?
    /// (left << 32 | right) → (rank << 32 | merged id).
    let merges: [UInt64: UInt64]
    let unkID: Int32?
    let fuseUnk: Bool
    let ignoreMerges: Bool
    /// A `ByteLevel` pre-tokenizer maps every byte to a printable character before the model.
    let byteLevel: Bool

    // MARK: Pipeline

    enum Normalizer: Equatable {
        case nfc, nfd, nfkc, nfkd
        case prepend([UInt8])
        case replace([UInt8], [UInt8])
    }

    enum SplitPattern: Equatable { case gpt2, llama3, qwen2 }

    enum PrependScheme: Equatable { case always, first, never }

    enum PreStep: Equatable {
        case split(SplitPattern)
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
        case metaspace(replacement: [UInt8], prepend: PrependScheme, split: Bool)
        /// Numbers (general category N*) split out: each alone, or runs of them.
        case digits(individual: Bool)
    }

    enum DecodeStep {
        case byteLevel
        case metaspace(replacement: Unicode.Scalar, prepend: PrependScheme)
        case replace(String, String)
        case byteFallback
        case fuse
        case strip(Unicode.Scalar, start: Int, stop: Int)
    }

    struct AddedToken {
        var id: Int
        var content: [UInt8]
        var singleWord: Bool
        var lstrip: Bool
        var rstrip: Bool
    }

    let normalizers: [Normalizer]
    let preSteps: [PreStep]
    /// Added tokens matched in the raw text (`normalized: false`), and in normalized text.
    let rawAdded: AddedMatcher?
    let normalizedAdded: AddedMatcher?
    /// nil: no decoder (tokens joined with spaces, as the reference does).
    let decodeSteps: [DecodeStep]?
    let tokenStrings: [Int: String]

    /// Distinct token ids: the model's vocabulary plus added tokens outside it (the reference's
    /// `get_vocab_size(with_added_tokens=True)`).
    public let vocabSize: Int

    // MARK: Caches

    private let lock = NSLock()
    private var wordCache: [ArraySlice<UInt8>: [Int32]] = [:]
    private var countCache: [String: Int] = [:]
    static let wordCacheCapacity = 50_000
    /// Words of this many bytes or more are not cached (the reference's limit).
    static let maxCachedWordBytes = 256

    // MARK: Loading

    public convenience init(path: String) throws(BenchError) {
        let bytes = try FileIO.readFile(path)
        try self.init(json: bytes, file: path)
    }

    public init(json: [UInt8], file: String) throws(BenchError) {
        let parsed: Result<JSONValue, JSONParseError> = json.withUnsafeBufferPointer { buf in
            do throws(JSONParseError) { return .success(try JSONParser.parse(buf)) } catch { return .failure(error) }
        }
        let root: JSONValue
        switch parsed {
        case .success(let v): root = v
        case .failure(let e): throw BenchError.data(file, "not a tokenizer.json: \(e)")
        }
        guard case .object = root else {
            throw BenchError.data(file, "not a tokenizer.json: the top level is \(root.typeName), expected an object")
        }
        let r = ConfigReader(file: file)

        // Model.
        guard let model = root["model"], case .object = model else {
            throw r.error("model", root["model"].map { "expected an object, got \($0.typeName)" } ?? "missing")
        }
        if let t = model["type"] {
            let type = try r.string(t, "model.type")
            guard type == "BPE" else {
                throw r.error("model.type", "unsupported tokenizer model '\(type)': only BPE (byte-level or SentencePiece-style) is supported")
            }
        } else if model["merges"] == nil {
            throw r.error("model.type", "missing, and the model has no merges: only BPE is supported")
        }
        guard let vocabValue = model["vocab"] else { throw r.error("model.vocab", "missing") }
        guard case .object(let vocabPairs) = vocabValue else {
            throw r.error("model.vocab", "expected an object of token → id, got \(vocabValue.typeName)")
        }
        if let d = model["dropout"], !d.isNull {
            let p = try r.number(d, "model.dropout")
            guard p == 0 else { throw r.error("model.dropout", "BPE dropout (\(p)) makes encodings random: not supported") }
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key], !v.isNull, try r.string(v, "model.\(key)") != "" {
                throw r.error("model.\(key)", "not supported (a WordPiece-style BPE)")
            }
        }
        fuseUnk = try r.optionalBool(model["fuse_unk"], "model.fuse_unk") ?? false
        let byteFallback = try r.optionalBool(model["byte_fallback"], "model.byte_fallback") ?? false
        ignoreMerges = try r.optionalBool(model["ignore_merges"], "model.ignore_merges") ?? false

        // Pipeline (decides whether the vocabulary is byte-level).
        let normalizerSteps = try Self.readNormalizers(root["normalizer"], r)
        let steps = try Self.readPreTokenizer(root["pre_tokenizer"], r)
        let isByteLevel = steps.contains { if case .byteLevel = $0 { return true } else { return false } }
        normalizers = normalizerSteps
        preSteps = steps
        byteLevel = isByteLevel

        var byString: [String: Int32] = [:]
        byString.reserveCapacity(vocabPairs.count)
        var strings: [Int: String] = [:]
        strings.reserveCapacity(vocabPairs.count)
        for (token, v) in vocabPairs {
            let id = try r.id(v, "model.vocab[\(Self.quoted(token))]")
            byString[token] = Int32(id)
            strings[id] = token
        }

        var byBytes: [ArraySlice<UInt8>: Int32] = [:]
        byBytes.reserveCapacity(byString.count)
        var bIDs = [Int32](repeating: -1, count: 256)
        var sIDs: [UInt32: Int32] = [:]
        for (token, id) in byString {
            if isByteLevel {
                guard let bytes = ByteLevelTable.bytes(of: token) else { continue }  // unreachable by merges
                byBytes[bytes[...]] = id
                if bytes.count == 1 { bIDs[Int(bytes[0])] = id }
            } else {
                byBytes[Array(token.utf8)[...]] = id
                let scalars = token.unicodeScalars
                if scalars.count == 1 { sIDs[scalars.first!.value] = id }
            }
        }
        vocabByBytes = byBytes
        byteIDs = bIDs
        scalarIDs = sIDs

        if byteFallback {
            var fb = [Int32](repeating: -1, count: 256)
            let hex = Array("0123456789ABCDEF")
            for b in 0..<256 {
                if let id = byString["<0x\(hex[b >> 4])\(hex[b & 15])>"] { fb[b] = id }
            }
            byteFallbackIDs = fb
        } else {
            byteFallbackIDs = nil
        }
        if let u = model["unk_token"], !u.isNull {
            let name = try r.string(u, "model.unk_token")
            guard let id = byString[name] else {
                throw r.error("model.unk_token", "'\(name)' is not in the vocabulary")
            }
            unkID = id
        } else {
            unkID = nil
        }

        // Merges: rank = position; a later duplicate wins, as in the reference.
        guard let mergesValue = model["merges"] else { throw r.error("model.merges", "missing") }
        guard case .array(let mergeItems) = mergesValue else {
            throw r.error("model.merges", "expected an array, got \(mergesValue.typeName)")
        }
        var mergeMap: [UInt64: UInt64] = [:]
        mergeMap.reserveCapacity(mergeItems.count)
        var rank = 0
        for (index, item) in mergeItems.enumerated() {
            let field = "model.merges[\(index)]"
            let a: String, b: String
            switch item {
            case .string(let s):
                if s.hasPrefix("#version") { continue }  // a merges.txt header, skipped as the reference does
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw r.error(field, "expected \"left right\", got \(Self.quoted(s))") }
                a = String(parts[0]); b = String(parts[1])
            case .array(let pair):
                guard pair.count == 2, case .string(let x) = pair[0], case .string(let y) = pair[1] else {
                    throw r.error(field, "expected a pair of strings")
                }
                a = x; b = y
            default:
                throw r.error(field, "expected a string or a pair of strings, got \(item.typeName)")
            }
            guard let ia = byString[a] else { throw r.error(field, "token \(Self.quoted(a)) is not in the vocabulary") }
            guard let ib = byString[b] else { throw r.error(field, "token \(Self.quoted(b)) is not in the vocabulary") }
            guard let merged = byString[a + b] else {
                throw r.error(field, "merged token \(Self.quoted(a + b)) is not in the vocabulary")
            }
            mergeMap[Self.pairKey(ia, ib)] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
            rank += 1
        }
        merges = mergeMap

        // Added tokens.
        var rawTokens: [AddedToken] = []
        var normTokens: [AddedToken] = []
        if let added = root["added_tokens"], !added.isNull {
            guard case .array(let items) = added else {
                throw r.error("added_tokens", "expected an array, got \(added.typeName)")
            }
            for (i, item) in items.enumerated() {
                let f = "added_tokens[\(i)]"
                guard case .object = item else { throw r.error(f, "expected an object, got \(item.typeName)") }
                guard let idv = item["id"] else { throw r.error("\(f).id", "missing") }
                let id = try r.id(idv, "\(f).id")
                guard let cv = item["content"] else { throw r.error("\(f).content", "missing") }
                let content = try r.string(cv, "\(f).content")
                let special = try r.optionalBool(item["special"], "\(f).special") ?? false
                let normalized = try r.optionalBool(item["normalized"], "\(f).normalized") ?? !special
                var tok = AddedToken(
                    id: id, content: Array(content.utf8),
                    singleWord: try r.optionalBool(item["single_word"], "\(f).single_word") ?? false,
                    lstrip: try r.optionalBool(item["lstrip"], "\(f).lstrip") ?? false,
                    rstrip: try r.optionalBool(item["rstrip"], "\(f).rstrip") ?? false)
                strings[id] = content
                guard !content.isEmpty else { continue }
                if normalized {
                    tok.content = Self.normalize(tok.content[...], normalizerSteps)
                    normTokens.append(tok)
                } else {
                    rawTokens.append(tok)
                }
            }
        }
        rawAdded = rawTokens.isEmpty ? nil : AddedMatcher(rawTokens)
        normalizedAdded = normTokens.isEmpty ? nil : AddedMatcher(normTokens)
        tokenStrings = strings
        vocabSize = strings.count

        decodeSteps = Self.readDecoder(root["decoder"], byteLevel: isByteLevel)
    }

    @inline(__always)
    static func pairKey(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    static func quoted(_ s: String) -> String {
        var w = JSONWriter()
        w.string(s)
        return w.string
    }

    /// Typed readers that name the field in their errors.
    struct ConfigReader {
        var file: String

        func error(_ field: String, _ message: String) -> BenchError {
            BenchError.data(file, field: field, message)
        }

        func string(_ v: JSONValue, _ field: String) throws(BenchError) -> String {
            guard case .string(let s) = v else { throw error(field, "expected a string, got \(v.typeName)") }
            return s
        }

        func number(_ v: JSONValue, _ field: String) throws(BenchError) -> Double {
            guard case .number(let d) = v else { throw error(field, "expected a number, got \(v.typeName)") }
            return d
        }

        func optionalBool(_ v: JSONValue?, _ field: String) throws(BenchError) -> Bool? {
            guard let v, !v.isNull else { return nil }
            guard case .bool(let b) = v else { throw error(field, "expected true or false, got \(v.typeName)") }
            return b
        }

        func id(_ v: JSONValue, _ field: String) throws(BenchError) -> Int {
            let d = try number(v, field)
            guard d >= 0, d < 2_147_483_647, d == d.rounded() else {
                throw error(field, "expected a token id (an integer ≥ 0), got \(d)")
            }
            return Int(d)
        }

        func type(_ v: JSONValue, _ field: String) throws(BenchError) -> String {
            guard case .object = v else { throw error(field, "expected an object, got \(v.typeName)") }
            guard let t = v["type"] else { throw error("\(field).type", "missing") }
            return try string(t, "\(field).type")
        }
    }

    static func readNormalizers(_ v: JSONValue?, _ r: ConfigReader) throws(BenchError) -> [Normalizer] {
        guard let v, !v.isNull else { return [] }
        var out: [Normalizer] = []
        try appendNormalizer(v, "normalizer", &out, r)
        return out
    }

    static func appendNormalizer(_ v: JSONValue, _ field: String, _ out: inout [Normalizer], _ r: ConfigReader) throws(BenchError) {
        let type = try r.type(v, field)
        switch type {
        case "Sequence":
            guard let list = v["normalizers"], case .array(let items) = list else {
                throw r.error("\(field).normalizers", "expected an array")
            }
            for (i, item) in items.enumerated() { try appendNormalizer(item, "\(field).normalizers[\(i)]", &out, r) }
        case "NFC": out.append(.nfc)
        case "NFD": out.append(.nfd)
        case "NFKC": out.append(.nfkc)
        case "NFKD": out.append(.nfkd)
        case "Prepend":
            guard let p = v["prepend"] else { throw r.error("\(field).prepend", "missing") }
            out.append(.prepend(Array(try r.string(p, "\(field).prepend").utf8)))
        case "Replace":
            let (pattern, content) = try readReplace(v, field, r)
            out.append(.replace(Array(pattern.utf8), Array(content.utf8)))
        default:
            throw r.error("\(field).type", "unsupported normalizer '\(type)' (supported: NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence)")
        }
    }

    static func readReplace(_ v: JSONValue, _ field: String, _ r: ConfigReader) throws(BenchError) -> (String, String) {
        guard let p = v["pattern"], case .object = p else { throw r.error("\(field).pattern", "expected an object") }
        guard let s = p["String"] else {
            throw r.error("\(field).pattern", "only string patterns are supported, not regular expressions")
        }
        let pattern = try r.string(s, "\(field).pattern.String")
        guard !pattern.isEmpty else { throw r.error("\(field).pattern.String", "must not be empty") }
        guard let c = v["content"] else { throw r.error("\(field).content", "missing") }
        return (pattern, try r.string(c, "\(field).content"))
    }

    static let knownPatterns: [String: SplitPattern] = [
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#: .gpt2,
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .llama3,
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .qwen2,
    ]

    static func readPreTokenizer(_ v: JSONValue?, _ r: ConfigReader) throws(BenchError) -> [PreStep] {
        guard let v, !v.isNull else { return [] }
        var out: [PreStep] = []
        try appendPreStep(v, "pre_tokenizer", &out, r)
        return out
    }

    static func appendPreStep(_ v: JSONValue, _ field: String, _ out: inout [PreStep], _ r: ConfigReader) throws(BenchError) {
        let type = try r.type(v, field)
        switch type {
        case "Sequence":
            guard let list = v["pretokenizers"], case .array(let items) = list else {
                throw r.error("\(field).pretokenizers", "expected an array")
            }
            for (i, item) in items.enumerated() { try appendPreStep(item, "\(field).pretokenizers[\(i)]", &out, r) }
        case "ByteLevel":
            let prefix = try r.optionalBool(v["add_prefix_space"], "\(field).add_prefix_space") ?? true
            let useRegex = try r.optionalBool(v["use_regex"], "\(field).use_regex") ?? true
            out.append(.byteLevel(addPrefixSpace: prefix, useRegex: useRegex))
        case "Split":
            guard let p = v["pattern"], case .object = p else { throw r.error("\(field).pattern", "expected an object") }
            guard let rv = p["Regex"] else {
                throw r.error("\(field).pattern", "only the GPT-2, Llama-3 and Qwen2 split regexes are supported")
            }
            let regex = try r.string(rv, "\(field).pattern.Regex")
            guard let known = knownPatterns[regex] else {
                throw r.error("\(field).pattern.Regex", "unsupported split regex \(quoted(regex)) (supported: the GPT-2, Llama-3 and Qwen2 patterns)")
            }
            if let b = v["behavior"] {
                let behavior = try r.string(b, "\(field).behavior")
                guard behavior == "Isolated" else { throw r.error("\(field).behavior", "only 'Isolated' is supported, got '\(behavior)'") }
            }
            if try r.optionalBool(v["invert"], "\(field).invert") == true {
                throw r.error("\(field).invert", "inverted splits are not supported")
            }
            out.append(.split(known))
        case "Metaspace":
            let rep = try v["replacement"].map { (x) throws(BenchError) in try r.string(x, "\(field).replacement") } ?? "▁"
            guard rep.unicodeScalars.count == 1 else { throw r.error("\(field).replacement", "must be one character") }
            var scheme = PrependScheme.always
            if let s = v["prepend_scheme"], !s.isNull {
                switch try r.string(s, "\(field).prepend_scheme") {
                case "always": scheme = .always
                case "first": scheme = .first
                case "never": scheme = .never
                case let other: throw r.error("\(field).prepend_scheme", "expected always, first or never, got '\(other)'")
                }
            }
            if try r.optionalBool(v["add_prefix_space"], "\(field).add_prefix_space") == false { scheme = .never }
            let split = try r.optionalBool(v["split"], "\(field).split") ?? true
            out.append(.metaspace(replacement: Array(rep.utf8), prepend: scheme, split: split))
        case "Digits":
            out.append(.digits(individual: try r.optionalBool(v["individual_digits"], "\(field).individual_digits") ?? false))
        default:
            throw r.error("\(field).type", "unsupported pre-tokenizer '\(type)' (supported: ByteLevel, Split with a GPT-2/Llama-3/Qwen2 regex, Metaspace, Digits, Sequence)")
        }
    }

    /// Decoders are only for `decode`; one we cannot follow falls back to the model's natural one.
    static func readDecoder(_ v: JSONValue?, byteLevel: Bool) -> [DecodeStep]? {
        let fallback: [DecodeStep] = byteLevel ? [.byteLevel] : [.byteFallback, .fuse]
        guard let v, !v.isNull else { return nil }
        var out: [DecodeStep] = []
        return appendDecodeStep(v, &out) ? out : fallback
    }

    static func appendDecodeStep(_ v: JSONValue, _ out: inout [DecodeStep]) -> Bool {
        guard case .string(let type)? = v["type"] else { return false }
        switch type {
        case "Sequence":
            guard case .array(let items)? = v["decoders"] else { return false }
            for item in items where !appendDecodeStep(item, &out) { return false }
        case "ByteLevel": out.append(.byteLevel)
        case "ByteFallback": out.append(.byteFallback)
        case "Fuse": out.append(.fuse)
        case "Replace":
            guard case .string(let p)? = v["pattern"]?["String"], !p.isEmpty, case .string(let c)? = v["content"] else { return false }
            out.append(.replace(p, c))
        case "Strip":
            guard case .string(let c)? = v["content"], c.unicodeScalars.count == 1,
                  case .number(let start)? = v["start"], case .number(let stop)? = v["stop"] else { return false }
            out.append(.strip(c.unicodeScalars.first!, start: Int(start), stop: Int(stop)))
        case "Metaspace":
            var rep: Unicode.Scalar = "▁"
            if case .string(let s)? = v["replacement"], s.unicodeScalars.count == 1 { rep = s.unicodeScalars.first! }
            var scheme = PrependScheme.always
            if case .string(let s)? = v["prepend_scheme"] {
                scheme = s == "never" ? .never : s == "first" ? .first : .always
            }
            if case .bool(false)? = v["add_prefix_space"] { scheme = .never }
            out.append(.metaspace(replacement: rep, prepend: scheme))
        default:
            return false
        }
        return true
    }

    // MARK: Encoding

    /// Token ids of `text`, with no special tokens added.
    public func encode(_ text: String) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3 + 4)
        let bytes = Array(text.utf8)
        if let rawAdded {
            rawAdded.split(bytes[...]) { seg in
                switch seg {
                case .token(let id): out.append(id)
                case .text(let s, let atStart): encodeSegment(s, atStart: atStart, into: &out)
                }
            }
        } else {
            encodeSegment(bytes[...], atStart: true, into: &out)
        }
        return out
    }

    /// A part of the text between raw added tokens: normalized, then split on normalized added tokens.
    func encodeSegment(_ s: ArraySlice<UInt8>, atStart: Bool, into out: inout [Int]) {
        let normalized = normalizers.isEmpty ? s : Self.normalize(s, normalizers)[...]
        if let normalizedAdded {
            normalizedAdded.split(normalized) { seg in
                switch seg {
                case .token(let id): out.append(id)
                case .text(let t, let first): preTokenize(t, atStart: atStart && first, step: 0, into: &out)
                }
            }
        } else {
            preTokenize(normalized, atStart: atStart, step: 0, into: &out)
        }
    }

    static func normalize(_ s: ArraySlice<UInt8>, _ steps: [Normalizer]) -> [UInt8] {
        var cur = Array(s)
        for step in steps {
            switch step {
            case .nfc: cur = Array(String(decoding: cur, as: UTF8.self).precomposedStringWithCanonicalMapping.utf8)
            case .nfd: cur = Array(String(decoding: cur, as: UTF8.self).decomposedStringWithCanonicalMapping.utf8)
            case .nfkc: cur = Array(String(decoding: cur, as: UTF8.self).precomposedStringWithCompatibilityMapping.utf8)
            case .nfkd: cur = Array(String(decoding: cur, as: UTF8.self).decomposedStringWithCompatibilityMapping.utf8)
            case .prepend(let p): if !cur.isEmpty { cur = p + cur }
            case .replace(let pattern, let content): cur = replaceAll(cur[...], pattern, content)
            }
        }
        return cur
    }

    static func replaceAll(_ s: ArraySlice<UInt8>, _ pattern: [UInt8], _ content: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = s.startIndex
        let first = pattern[0]
        while i < s.endIndex {
            if s[i] == first, s.endIndex - i >= pattern.count, s[i..<(i + pattern.count)].elementsEqual(pattern) {
                out.append(contentsOf: content)
                i += pattern.count
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }

    func preTokenize(_ p: ArraySlice<UInt8>, atStart: Bool, step: Int, into out: inout [Int]) {
        if p.isEmpty { return }
        if step == preSteps.count {
            tokenizeWord(p, into: &out)
            return
        }
        switch preSteps[step] {
        case .split(let pattern):
            PreTokenizerRegex.split(p, pattern) { piece, first in
                preTokenize(piece, atStart: atStart && first, step: step + 1, into: &out)
            }
        case .byteLevel(let addPrefixSpace, let useRegex):
            var piece = p
            if addPrefixSpace, p.first != 0x20 { piece = ([0x20] + p)[...] }
            if useRegex {
                PreTokenizerRegex.split(piece, .gpt2) { sub, first in
                    preTokenize(sub, atStart: atStart && first, step: step + 1, into: &out)
                }
            } else {
                preTokenize(piece, atStart: atStart, step: step + 1, into: &out)
            }
        case .metaspace(let rep, let scheme, let split):
            var piece = p.contains(0x20) ? Self.replaceAll(p, [0x20], rep)[...] : p
            if !piece.starts(with: rep), scheme == .always || (scheme == .first && atStart) {
                piece = (rep + piece)[...]
            }
            guard split else {
                preTokenize(piece, atStart: atStart, step: step + 1, into: &out)
                return
            }
            // Split before each replacement character (MergedWithNext).
            var start = piece.startIndex
            var i = piece.startIndex
            while i < piece.endIndex {
                if i > start, piece[i] == rep[0], piece.endIndex - i >= rep.count, piece[i..<(i + rep.count)].elementsEqual(rep) {
                    preTokenize(piece[start..<i], atStart: atStart && start == piece.startIndex, step: step + 1, into: &out)
                    start = i
                }
                i += 1
            }
            preTokenize(piece[start..<piece.endIndex], atStart: atStart && start == piece.startIndex, step: step + 1, into: &out)
        case .digits(let individual):
            var start = p.startIndex
            var i = p.startIndex
            var inNumber = false
            while i < p.endIndex {
                let (v, len) = UTF8Scalars.decode(p, at: i)
                let isNumber = PreTokenizerRegex.charClass(v) == PreTokenizerRegex.number
                if i > start, isNumber != inNumber || (isNumber && individual) {
                    preTokenize(p[start..<i], atStart: atStart && start == p.startIndex, step: step + 1, into: &out)
                    start = i
                }
                inNumber = isNumber
                i += len
            }
            preTokenize(p[start..<p.endIndex], atStart: atStart && start == p.startIndex, step: step + 1, into: &out)
        }
    }

    /// The model on one pre-token.
    func tokenizeWord(_ w: ArraySlice<UInt8>, into out: inout [Int]) {
        if ignoreMerges, let id = vocabByBytes[w] {
            out.append(Int(id))
            return
        }
        let cacheable = w.count < Self.maxCachedWordBytes
        if cacheable {
            lock.lock()
            let hit = wordCache[w]
            lock.unlock()
            if let hit {
                for id in hit { out.append(Int(id)) }
                return
            }
        }
        let ids = mergeWord(w)
        if cacheable {
            lock.lock()
            if wordCache.count < Self.wordCacheCapacity { wordCache[Array(w)[...]] = ids }
            lock.unlock()
        }
        for id in ids { out.append(Int(id)) }
    }

    struct Symbol {
        var c: Int32
        var prev: Int32
        var next: Int32
        var removed: Bool
    }

    /// The reference's `merge_word` + `merge_all`: initial symbols (bytes or characters, with
    /// byte fallback and unknown-token fusing), then merges by (rank, position) from a heap.
    func mergeWord(_ w: ArraySlice<UInt8>) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(w.count)
        var unk: Int32? = nil  // a pending unknown symbol
        func known(_ id: Int32) {
            if let u = unk { ids.append(u); unk = nil }
            ids.append(id)
        }
        func unknown(_ unitBytes: ArraySlice<UInt8>) {
            if let fb = byteFallbackIDs, unitBytes.allSatisfy({ fb[Int($0)] >= 0 }) {
                for b in unitBytes { ids.append(fb[Int(b)]) }
                return
            }
            guard let unkID else { return }  // the reference drops it
            if unk != nil, !fuseUnk { ids.append(unkID) }
            unk = unkID
        }
        if byteLevel {
            for b in w {
                let id = byteIDs[Int(b)]
                if id >= 0 { known(id) } else { unknown(ByteLevelTable.charUTF8[Int(b)][...]) }
            }
        } else {
            var i = w.startIndex
            while i < w.endIndex {
                let (scalar, len) = UTF8Scalars.decode(w, at: i)
                if let id = scalarIDs[scalar] { known(id) } else { unknown(w[i..<(i + len)]) }
                i += len
            }
        }
        if let u = unk { ids.append(u) }
        if ids.count < 2 || merges.isEmpty { return ids }

        var syms = [Symbol]()
        syms.reserveCapacity(ids.count)
        for (k, id) in ids.enumerated() {
            syms.append(Symbol(c: id, prev: Int32(k - 1), next: k + 1 < ids.count ? Int32(k + 1) : -1, removed: false))
        }
        var heap = MergeHeap()
        for k in 0..<(syms.count - 1) {
            if let m = merges[Self.pairKey(syms[k].c, syms[k + 1].c)] {
                heap.push(key: (m >> 32) << 32 | UInt64(k), newID: Int32(truncatingIfNeeded: m))
            }
        }
        while let top = heap.pop() {
            let pos = Int(top.key & 0xFFFF_FFFF)
            if syms[pos].removed || syms[pos].next == -1 { continue }
            let nextPos = Int(syms[pos].next)
            let right = syms[nextPos]
            // A stale entry: the pair there no longer merges into this token.
            guard let m = merges[Self.pairKey(syms[pos].c, right.c)], Int32(truncatingIfNeeded: m) == top.newID else { continue }
            syms[pos].c = top.newID
            syms[pos].next = right.next
            syms[nextPos].removed = true
            if right.next >= 0 { syms[Int(right.next)].prev = Int32(pos) }
            let cur = syms[pos]
            if cur.prev >= 0, let m2 = merges[Self.pairKey(syms[Int(cur.prev)].c, cur.c)] {
                heap.push(key: (m2 >> 32) << 32 | UInt64(cur.prev), newID: Int32(truncatingIfNeeded: m2))
            }
            if cur.next >= 0, let m2 = merges[Self.pairKey(cur.c, syms[Int(cur.next)].c)] {
                heap.push(key: (m2 >> 32) << 32 | UInt64(pos), newID: Int32(truncatingIfNeeded: m2))
            }
        }
        var result: [Int32] = []
        result.reserveCapacity(syms.count)
        for s in syms where !s.removed { result.append(s.c) }
        return result
    }

    // MARK: Decoding

    /// The text of `ids` through the tokenizer's decoder; special tokens are kept (as their
    /// text); unknown ids are skipped.
    public func decode(_ ids: [Int]) -> String {
        var tokens: [String] = ids.compactMap { tokenStrings[$0] }
        guard let steps = decodeSteps else { return tokens.joined(separator: " ") }
        for step in steps {
            switch step {
            case .byteLevel:
                var bytes: [UInt8] = []
                for t in tokens {
                    if let b = ByteLevelTable.bytes(of: t) { bytes.append(contentsOf: b) } else { bytes.append(contentsOf: t.utf8) }
                }
                tokens = [String(decoding: bytes, as: UTF8.self)]
            case .metaspace(let rep, let scheme):
                // Per scalar (Rust chars), not per grapheme: "▁" + a combining mark is two.
                tokens = tokens.enumerated().map { i, t in
                    var s = String.UnicodeScalarView()
                    for ch in t.unicodeScalars {
                        if ch == rep {
                            if !(i == 0 && scheme != .never) { s.append(" ") }
                        } else {
                            s.append(ch)
                        }
                    }
                    return String(s)
                }
            case .replace(let pattern, let content):
                let p = Array(pattern.utf8), c = Array(content.utf8)
                tokens = tokens.map { String(decoding: Self.replaceAll(Array($0.utf8)[...], p, c), as: UTF8.self) }
            case .byteFallback:
                var out: [String] = []
                var pending: [UInt8] = []
                func flush() {
                    guard !pending.isEmpty else { return }
                    if let s = UTF8Scalars.strictString(pending) {
                        out.append(s)
                    } else {
                        out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
                    }
                    pending.removeAll()
                }
                for t in tokens {
                    if let b = Self.byteToken(t) { pending.append(b) } else { flush(); out.append(t) }
                }
                flush()
                tokens = out
            case .fuse:
                tokens = [tokens.joined()]
            case .strip(let ch, let start, let stop):
                tokens = tokens.map { t in
                    let chars = Array(t.unicodeScalars)
                    var lo = 0
                    while lo < min(start, chars.count), chars[lo] == ch { lo += 1 }
                    var hi = chars.count
                    while chars.count - hi < stop, hi > lo, chars[hi - 1] == ch { hi -= 1 }
                    var s = String.UnicodeScalarView()
                    s.append(contentsOf: chars[lo..<hi])
                    return String(s)
                }
            }
        }
        return tokens.joined()
    }

    /// The byte of a `<0xNN>` token.
    static func byteToken(_ t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        guard let h = hex(u[3]), let l = hex(u[4]) else { return nil }
        return h << 4 | l
    }

    // MARK: Counting (prompt building)

    /// `encode(s).count`, memoised: for the short pieces prompts are built from.
    public func cachedCount(_ s: String) -> Int {
        lock.lock()
        let hit = countCache[s]
        lock.unlock()
        if let hit { return hit }
        let n = encode(s).count
        lock.lock()
        if countCache.count < 4096 { countCache[s] = n }
        lock.unlock()
        return n
    }
}

// MARK: - Helpers

extension BPETokenizer {
    /// A min-heap of pending merges ordered by (rank, position), as in the reference.
    struct MergeHeap {
        var keys: [UInt64] = []
        var ids: [Int32] = []

        mutating func push(key: UInt64, newID: Int32) {
            keys.append(key)
            ids.append(newID)
            var i = keys.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                if keys[parent] <= keys[i] { break }
                keys.swapAt(parent, i)
                ids.swapAt(parent, i)
                i = parent
            }
        }

        mutating func pop() -> (key: UInt64, newID: Int32)? {
            guard let top = keys.first else { return nil }
            let topID = ids[0]
            let last = keys.count - 1
            keys.swapAt(0, last)
            ids.swapAt(0, last)
            keys.removeLast()
            ids.removeLast()
            var i = 0
            let n = keys.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var m = l
                if l + 1 < n, keys[l + 1] < keys[l] { m = l + 1 }
                if keys[i] <= keys[m] { break }
                keys.swapAt(i, m)
                ids.swapAt(i, m)
                i = m
            }
            return (top, topID)
        }
    }

    /// GPT-2's reversible byte ↔ printable-character table.
    enum ByteLevelTable {
        static let byteToScalar: [UInt32] = {
            var table = [UInt32](repeating: 0, count: 256)
            var n: UInt32 = 0
            for b in 0..<256 {
                let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
                if printable {
                    table[b] = UInt32(b)
                } else {
                    table[b] = 256 + n
                    n += 1
                }
            }
            return table
        }()

        static let scalarToByte: [UInt32: UInt8] = {
            var d: [UInt32: UInt8] = [:]
            for (b, s) in byteToScalar.enumerated() { d[s] = UInt8(b) }
            return d
        }()

        /// The UTF-8 of each byte's character.
        static let charUTF8: [[UInt8]] = byteToScalar.map { Array(String(Character(Unicode.Scalar($0)!)).utf8) }

        /// The bytes a byte-level token stands for, or nil if a character is outside the table.
        static func bytes(of token: String) -> [UInt8]? {
            var out: [UInt8] = []
            out.reserveCapacity(token.unicodeScalars.count)
            for s in token.unicodeScalars {
                guard let b = scalarToByte[s.value] else { return nil }
                out.append(b)
            }
            return out
        }
    }

    enum UTF8Scalars {
        /// The scalar starting at `i` of valid UTF-8, and its length.
        @inline(__always)
        static func decode(_ s: ArraySlice<UInt8>, at i: Int) -> (UInt32, Int) {
            let b0 = UInt32(s[i])
            if b0 < 0x80 { return (b0, 1) }
            if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(s[i + 1] & 0x3F), 2) }
            if b0 < 0xF0 { return ((b0 & 0x0F) << 12 | UInt32(s[i + 1] & 0x3F) << 6 | UInt32(s[i + 2] & 0x3F), 3) }
            return ((b0 & 0x07) << 18 | UInt32(s[i + 1] & 0x3F) << 12 | UInt32(s[i + 2] & 0x3F) << 6 | UInt32(s[i + 3] & 0x3F), 4)
        }

        /// The start of the scalar that ends just before `i`.
        static func start(before i: Int, in s: ArraySlice<UInt8>) -> Int {
            var j = i - 1
            while j > s.startIndex, s[j] & 0xC0 == 0x80 { j -= 1 }
            return j
        }

        static func strictString(_ bytes: [UInt8]) -> String? {
            var it = bytes.makeIterator()
            var dec = UTF8()
            var out = String.UnicodeScalarView()
            while true {
                switch dec.decode(&it) {
                case .scalarValue(let s): out.append(s)
                case .emptyInput: return String(out)
                case .error: return nil
                }
            }
        }
    }

    /// Added tokens found leftmost-longest, non-overlapping, as the reference's Aho-Corasick does.
    struct AddedMatcher {
        enum Segment {
            case token(Int)
            /// Text between tokens; `first`: it starts at the start of the input.
            case text(ArraySlice<UInt8>, first: Bool)
        }

        let tokens: [BPETokenizer.AddedToken]
        /// Token indices by first byte, longest first.
        let byFirstByte: [[Int]]

        init(_ tokens: [BPETokenizer.AddedToken]) {
            self.tokens = tokens
            var buckets = [[Int]](repeating: [], count: 256)
            for (i, t) in tokens.enumerated() { buckets[Int(t.content[0])].append(i) }
            byFirstByte = buckets.map { $0.sorted { tokens[$0].content.count > tokens[$1].content.count } }
        }

        func split(_ s: ArraySlice<UInt8>, _ emit: (Segment) -> Void) {
            var gapStart = s.startIndex
            var i = s.startIndex
            while i < s.endIndex {
                var found: Int? = nil
                for k in byFirstByte[Int(s[i])] {
                    let c = tokens[k].content
                    if s.endIndex - i >= c.count, s[i..<(i + c.count)].elementsEqual(c) { found = k; break }
                }
                guard let k = found else { i += 1; continue }
                let t = tokens[k]
                var start = i
                var stop = i + t.content.count
                i = stop
                if t.singleWord {
                    let before = start == s.startIndex || !Self.isWordScalar(UTF8Scalars.decode(s, at: UTF8Scalars.start(before: start, in: s)).0)
                    let after = stop == s.endIndex || !Self.isWordScalar(UTF8Scalars.decode(s, at: stop).0)
                    if !before || !after { continue }
                }
                if t.lstrip {
                    while start > gapStart {
                        let j = UTF8Scalars.start(before: start, in: s)
                        guard Self.isSpaceScalar(UTF8Scalars.decode(s, at: j).0) else { break }
                        start = j
                    }
                }
                if t.rstrip {
                    while stop < s.endIndex {
                        let (v, len) = UTF8Scalars.decode(s, at: stop)
                        guard Self.isSpaceScalar(v) else { break }
                        stop += len
                    }
                    i = stop
                }
                if gapStart < start { emit(.text(s[gapStart..<start], first: gapStart == s.startIndex)) }
                emit(.token(t.id))
                gapStart = stop
            }
            if gapStart < s.endIndex { emit(.text(s[gapStart..<s.endIndex], first: gapStart == s.startIndex)) }
        }

        /// Rust regex `\s`: White_Space.
        static func isSpaceScalar(_ v: UInt32) -> Bool {
            guard let u = Unicode.Scalar(v) else { return false }
            return u.properties.isWhitespace
        }

        /// Rust regex `\w`: Alphabetic, marks, decimal digits, connector punctuation, Join_Control.
        static func isWordScalar(_ v: UInt32) -> Bool {
            guard let u = Unicode.Scalar(v) else { return false }
            let p = u.properties
            if p.isAlphabetic || p.isJoinControl { return true }
            switch p.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
            default: return false
            }
        }
    }

    /// The split regexes, matched by hand over character classes:
    /// - GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    /// - Llama-3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// - Qwen2: as Llama-3 with `\p{N}` for `\p{N}{1,3}`.
    /// Every character falls in one of the alternatives, so matches tile the text (no gaps).
    enum PreTokenizerRegex {
        // Character classes.
        static let letter: UInt8 = 0
        static let number: UInt8 = 1
        static let space: UInt8 = 2  // U+0020
        static let newline: UInt8 = 3  // \r \n
        static let otherSpace: UInt8 = 4  // other White_Space
        static let other: UInt8 = 5

        static let asciiClass: [UInt8] = (0..<128).map { (b: Int) -> UInt8 in
            switch b {
            case 0x41...0x5A, 0x61...0x7A: return letter
            case 0x30...0x39: return number
            case 0x20: return space
            case 0x0A, 0x0D: return newline
            case 0x09, 0x0B, 0x0C: return otherSpace
            default: return other
            }
        }

        @inline(__always)
        static func charClass(_ v: UInt32) -> UInt8 {
            if v < 128 { return asciiClass[Int(v)] }
            guard let u = Unicode.Scalar(v) else { return other }
            let p = u.properties
            if p.isWhitespace { return otherSpace }
            switch p.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
            case .decimalNumber, .letterNumber, .otherNumber: return number
            default: return other
            }
        }

        @inline(__always)
        static func isSpace(_ c: UInt8) -> Bool { c == space || c == newline || c == otherSpace }

        /// Calls `emit(piece, isFirst)` for each match, in order.
        static func split(_ s: ArraySlice<UInt8>, _ pattern: BPETokenizer.SplitPattern, _ emit: (ArraySlice<UInt8>, Bool) -> Void) {
            // Decode once: scalar values, classes and byte offsets.
            var vals: [UInt32] = []
            var cls: [UInt8] = []
            var offs: [Int] = []
            vals.reserveCapacity(s.count)
            cls.reserveCapacity(s.count)
            offs.reserveCapacity(s.count + 1)
            var i = s.startIndex
            while i < s.endIndex {
                let (v, len) = UTF8Scalars.decode(s, at: i)
                vals.append(v)
                cls.append(charClass(v))
                offs.append(i)
                i += len
            }
            offs.append(s.endIndex)
            let n = vals.count
            var p = 0
            while p < n {
                let e: Int
                switch pattern {
                case .gpt2: e = matchGPT2(vals, cls, p, n)
                case .llama3: e = matchLlama3(vals, cls, p, n, maxDigits: 3)
                case .qwen2: e = matchLlama3(vals, cls, p, n, maxDigits: 1)
                }
                emit(s[offs[p]..<offs[e]], p == 0)
                p = e
            }
        }

        @inline(__always)
        static func run(_ cls: [UInt8], _ from: Int, _ n: Int, _ c: UInt8) -> Int {
            var q = from
            while q < n, cls[q] == c { q += 1 }
            return q
        }

        /// `\s+(?!\S)|\s+` from a whitespace character at p.
        @inline(__always)
        static func whitespace(_ cls: [UInt8], _ p: Int, _ n: Int) -> Int {
            var q = p
            while q < n, isSpace(cls[q]) { q += 1 }
            if q == n { return q }
            return q - p >= 2 ? q - 1 : q
        }

        static func matchGPT2(_ v: [UInt32], _ cls: [UInt8], _ p: Int, _ n: Int) -> Int {
            if v[p] == 0x27, p + 1 < n {  // 's 't 're 've 'm 'll 'd (case-sensitive)
                switch v[p + 1] {
                case 0x73, 0x74, 0x6D, 0x64: return p + 2
                case 0x72, 0x76: if p + 2 < n, v[p + 2] == 0x65 { return p + 3 }
                case 0x6C: if p + 2 < n, v[p + 2] == 0x6C { return p + 3 }
                default: break
                }
            }
            let c = cls[p]
            switch c {
            case letter, number, other:
                return run(cls, p, n, c)
            case space:
                if p + 1 < n {
                    let d = cls[p + 1]
                    if d == letter || d == number || d == other { return run(cls, p + 1, n, d) }
                }
                return whitespace(cls, p, n)
            default:
                return whitespace(cls, p, n)
            }
        }

        @inline(__always)
        static func fold(_ v: UInt32) -> UInt32 {
            if v == 0x17F { return 0x73 }  // ſ folds to s
            return (0x41...0x5A).contains(v) ? v + 0x20 : v
        }

        static func matchLlama3(_ v: [UInt32], _ cls: [UInt8], _ p: Int, _ n: Int, maxDigits: Int) -> Int {
            if v[p] == 0x27, p + 1 < n {  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
                switch fold(v[p + 1]) {
                case 0x73, 0x74, 0x6D, 0x64: return p + 2
                case 0x72, 0x76: if p + 2 < n, fold(v[p + 2]) == 0x65 { return p + 3 }
                case 0x6C: if p + 2 < n, fold(v[p + 2]) == 0x6C { return p + 3 }
                default: break
                }
            }
            let c = cls[p]
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if c == letter { return run(cls, p, n, letter) }
            if c != newline, c != number, p + 1 < n, cls[p + 1] == letter { return run(cls, p + 1, n, letter) }
            // \p{N}{1,maxDigits}
            if c == number { return min(run(cls, p, n, number), p + maxDigits) }
            //  ?[^\s\p{L}\p{N}]+[\r\n]*
            if c == other { return run(cls, run(cls, p, n, other), n, newline) }
            if c == space, p + 1 < n, cls[p + 1] == other { return run(cls, run(cls, p + 1, n, other), n, newline) }
            // \s*[\r\n]+ : up to the last newline of the whitespace run.
            var q = p
            var lastNewline = -1
            while q < n, isSpace(cls[q]) {
                if cls[q] == newline { lastNewline = q }
                q += 1
            }
            if lastNewline >= 0 { return lastNewline + 1 }
            // \s+(?!\S)|\s+
            if q == n { return q }
            return q - p >= 2 ? q - 1 : q
        }
    }
}
