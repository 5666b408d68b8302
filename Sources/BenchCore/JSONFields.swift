/// Strict field access for one JSON object read from a file, so that every error names the
/// file, the line and the field, and unknown keys are rejected rather than silently ignored.
public struct JSONFields {
    public let file: String
    public let line: Int?
    public let prefix: String
    let pairs: [(String, JSONValue)]
    var used: Set<String> = []

    public init(_ value: JSONValue, file: String, line: Int?, prefix: String = "") throws(BenchError) {
        guard case .object(let pairs) = value else {
            throw BenchError.data(file, line: line, field: prefix.isEmpty ? nil : prefix, "expected an object, got \(value.typeName)")
        }
        self.file = file
        self.line = line
        self.prefix = prefix
        self.pairs = pairs
        var seen = Set<String>()
        for (k, _) in pairs where !seen.insert(k).inserted {
            throw BenchError.data(file, line: line, field: prefix.isEmpty ? k : "\(prefix).\(k)", "duplicate key")
        }
    }

    public func path(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    public func error(_ key: String, _ message: String) -> BenchError {
        BenchError.data(file, line: line, field: path(key), message)
    }

    public mutating func raw(_ key: String) -> JSONValue? {
        used.insert(key)
        for (k, v) in pairs where k == key { return v }
        return nil
    }

    public func has(_ key: String) -> Bool { pairs.contains { $0.0 == key } }

    public mutating func optionalDouble(_ key: String) throws(BenchError) -> Double? {
        guard let v = raw(key), !v.isNull else { return nil }
        guard case .number(let d) = v else { throw error(key, "expected a number, got \(v.typeName)") }
        return d
    }

    public mutating func double(_ key: String) throws(BenchError) -> Double {
        guard let d = try optionalDouble(key) else { throw error(key, "missing required number") }
        return d
    }

    public mutating func optionalInt(_ key: String) throws(BenchError) -> Int? {
        guard let d = try optionalDouble(key) else { return nil }
        guard d == d.rounded(), abs(d) < 9e15 else { throw error(key, "expected an integer, got \(d)") }
        return Int(d)
    }

    public mutating func int(_ key: String) throws(BenchError) -> Int {
        guard let i = try optionalInt(key) else { throw error(key, "missing required integer") }
        return i
    }

    public mutating func optionalString(_ key: String) throws(BenchError) -> String? {
        guard let v = raw(key), !v.isNull else { return nil }
        guard case .string(let s) = v else { throw error(key, "expected a string, got \(v.typeName)") }
        return s
    }

    public mutating func string(_ key: String) throws(BenchError) -> String {
        guard let s = try optionalString(key) else { throw error(key, "missing required string") }
        return s
    }

    public mutating func optionalBool(_ key: String) throws(BenchError) -> Bool? {
        guard let v = raw(key), !v.isNull else { return nil }
        guard case .bool(let b) = v else { throw error(key, "expected true or false, got \(v.typeName)") }
        return b
    }

    public mutating func optionalDoubleArray(_ key: String) throws(BenchError) -> [Double]? {
        guard let v = raw(key), !v.isNull else { return nil }
        guard case .array(let items) = v else { throw error(key, "expected an array, got \(v.typeName)") }
        var out: [Double] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .number(let d) = item else { throw error("\(key)[\(i)]", "expected a number, got \(item.typeName)") }
            out.append(d)
        }
        return out
    }

    public mutating func optionalObject(_ key: String) throws(BenchError) -> JSONFields? {
        guard let v = raw(key), !v.isNull else { return nil }
        return try JSONFields(v, file: file, line: line, prefix: path(key))
    }

    /// Rejects keys that were never asked for (typos must not pass silently).
    public func finish(allowingExtra: Bool = false) throws(BenchError) {
        if allowingExtra { return }
        for (k, _) in pairs where !used.contains(k) {
            throw error(k, "unknown key")
        }
    }
}
