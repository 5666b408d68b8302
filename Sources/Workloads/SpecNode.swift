import BenchCore
import Yams

/// A YAML node with the file and key path it came from, read strictly: wrong types and unknown
/// keys are errors that name the file, the line and the field.
struct SpecNode {
    let node: Node
    let file: String
    let path: String

    static func parse(yaml: String, file: String) throws(BenchError) -> SpecNode {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let e as YamlError {
            throw BenchError.data(file, line: SpecNode.line(of: e) ?? SpecNode.duplicateLine(of: e, in: yaml),
                                  "invalid YAML: \(SpecNode.problem(of: e))")
        } catch {
            throw BenchError.data(file, "invalid YAML: \(error)")
        }
        guard let root else { throw BenchError.data(file, "empty spec") }
        return SpecNode(node: root, file: file, path: "")
    }

    private static func line(of e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    /// Yams reports duplicated keys without a position: the line of the first key that repeats
    /// one before it at the same indentation (a plain scan; flow mappings are not searched).
    static func duplicateLine(of e: YamlError, in yaml: String) -> Int? {
        guard case .duplicatedKeysInMapping(let keys, _) = e else { return nil }
        var seen: Set<String> = []
        for (i, raw) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.drop { $0 == " " || $0 == "-" }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon].filter { !" \"'".contains($0) })
            guard keys.contains(key) else { continue }
            let indent = raw.prefix { $0 == " " || $0 == "-" }.count
            if !seen.insert("\(indent) \(key)").inserted { return i + 1 }
        }
        return nil
    }

    private static func problem(of e: YamlError) -> String {
        switch e {
        case .scanner(_, let p, _, _), .parser(_, let p, _, _), .composer(_, let p, _, _): return p
        case .duplicatedKeysInMapping(let keys, _): return "duplicated key(s) " + keys.sorted().map { "'\($0)'" }.joined(separator: ", ")
        default: return "\(e)".split(separator: "\n").first.map(String.init) ?? "\(e)"
        }
    }

    var line: Int? { node.mark?.line }

    func error(_ message: String) -> BenchError {
        BenchError.data(file, line: line, field: path.isEmpty ? nil : path, message)
    }

    func child(_ node: Node, _ key: String) -> SpecNode {
        SpecNode(node: node, file: file, path: path.isEmpty ? key : "\(path).\(key)")
    }

    var isNull: Bool {
        if case .scalar(let s) = node { return s.style == .plain && node.null != nil }
        return false
    }

    var typeName: String {
        switch node {
        case .scalar: return isNull ? "null" : "a scalar '\(node.string ?? "")'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func double() throws(BenchError) -> Double {
        guard case .scalar(let s) = node, s.style == .plain, let d = node.float ?? node.int.map(Double.init), d.isFinite else {
            throw error("expected a number, got \(typeName)")
        }
        return d
    }

    func int() throws(BenchError) -> Int {
        guard case .scalar(let s) = node, s.style == .plain else { throw error("expected an integer, got \(typeName)") }
        if let i = node.int { return i }
        if let d = node.float, d == d.rounded(), abs(d) < 9e15 { return Int(d) }
        throw error("expected an integer, got \(typeName)")
    }

    func string() throws(BenchError) -> String {
        guard case .scalar(let s) = node, !isNull else { throw error("expected a string, got \(typeName)") }
        return s.string
    }

    func bool() throws(BenchError) -> Bool {
        guard case .scalar(let s) = node, s.style == .plain, let b = node.bool else {
            throw error("expected true or false, got \(typeName)")
        }
        return b
    }

    func list() throws(BenchError) -> [SpecNode] {
        guard case .sequence(let seq) = node else { throw error("expected a list, got \(typeName)") }
        return seq.enumerated().map { i, n in SpecNode(node: n, file: file, path: "\(path)[\(i)]") }
    }

    func doublePair() throws(BenchError) -> (Double, Double) {
        let items = try list()
        guard items.count == 2 else { throw error("expected a list of two numbers [low, high]") }
        let lo = try items[0].double(), hi = try items[1].double()
        guard lo <= hi else { throw error("low \(lo) is above high \(hi)") }
        return (lo, hi)
    }

    func fields() throws(BenchError) -> SpecFields {
        guard case .mapping(let m) = node else { throw error("expected a mapping, got \(typeName)") }
        var pairs: [(String, SpecNode)] = []
        for (k, v) in m {
            guard let key = k.string else { throw child(k, "?").error("mapping keys must be strings") }
            if pairs.contains(where: { $0.0 == key }) { throw child(k, key).error("duplicate key") }
            pairs.append((key, child(v, key)))
        }
        return SpecFields(owner: self, pairs: pairs)
    }
}

/// The keys of one YAML mapping; `finish()` rejects any key nobody asked for.
struct SpecFields {
    let owner: SpecNode
    let pairs: [(String, SpecNode)]
    var used: Set<String> = []

    init(owner: SpecNode, pairs: [(String, SpecNode)]) {
        self.owner = owner
        self.pairs = pairs
    }

    mutating func optional(_ key: String) -> SpecNode? {
        used.insert(key)
        for (k, v) in pairs where k == key { return v.isNull ? nil : v }
        return nil
    }

    mutating func required(_ key: String) throws(BenchError) -> SpecNode {
        guard let v = optional(key) else {
            throw owner.error("missing required key '\(key)'")
        }
        return v
    }

    func has(_ key: String) -> Bool { pairs.contains { $0.0 == key } }

    var keys: [String] { pairs.map(\.0) }

    func finish(_ context: String = "") throws(BenchError) {
        for (k, v) in pairs where !used.contains(k) {
            let known = used.sorted().joined(separator: ", ")
            throw v.error("unknown key\(context.isEmpty ? "" : " in \(context)") (known keys here: \(known))")
        }
    }
}
