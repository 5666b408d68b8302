/// One sample of a Prometheus text exposition: a metric name, its labels as written, a value.
public struct PrometheusSample: Sendable, Equatable {
    public var name: String
    public var labels: [PrometheusLabel]
    public var value: Double

    public init(name: String, labels: [PrometheusLabel] = [], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }

    /// `name{l="v",…}` (labels in the order written, values escaped as in the exposition): the
    /// key one series is stored under.
    public var key: String {
        guard !labels.isEmpty else { return name }
        var s = name + "{"
        for (i, l) in labels.enumerated() {
            if i > 0 { s += "," }
            s += l.name + "=\"" + PrometheusText.escape(l.value) + "\""
        }
        return s + "}"
    }

    public func label(_ name: String) -> String? { labels.first { $0.name == name }?.value }
}

public struct PrometheusLabel: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Reads the Prometheus text exposition format (version 0.0.4, what every serving engine's
/// `/metrics` returns): `# HELP` / `# TYPE` and other comment lines are skipped; each other
/// non-empty line is `name[{label="value",…}] value [timestamp]`. Values may be `NaN`, `+Inf`,
/// `-Inf`; label values escape `\\`, `\"` and `\n`. A line that is none of these is an error
/// naming the source and line, so a scraper can record what the server sent wrong.
public enum PrometheusText {
    public static func parse(_ text: String, source: String) throws(BenchError) -> [PrometheusSample] {
        var out: [PrometheusSample] = []
        // Byte lines (CRLF too; "\r\n" is one Character, so a split on "\n" would miss it).
        try forEachLine(Array(text.utf8)) { (n, line) throws(BenchError) in
            let bytes = Array(line.drop { $0 == 0x20 || $0 == 0x09 })
            if bytes.first == UInt8(ascii: "#") { return }
            do {
                out.append(try parseSample(bytes))
            } catch let e as LineError {
                throw BenchError.data(source, line: n, "\(e.message): \(excerpt(Substring(String(decoding: bytes, as: UTF8.self))))")
            } catch {
                throw BenchError.data(source, line: n, "\(error)")
            }
        }
        return out
    }

    /// Escapes a label value as the exposition writes it.
    public static func escape(_ s: String) -> String {
        guard s.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return s }
        var r = ""
        for c in s {
            switch c {
            case "\\": r += "\\\\"
            case "\"": r += "\\\""
            case "\n": r += "\\n"
            default: r.append(c)
            }
        }
        return r
    }

    struct LineError: Error { let message: String }

    static func excerpt(_ s: Substring) -> String { s.count <= 120 ? String(s) : String(s.prefix(120)) + "…" }

    static func isNameStart(_ b: UInt8, colon: Bool) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F || (colon && b == 0x3A)
    }

    static func isNameChar(_ b: UInt8, colon: Bool) -> Bool { isNameStart(b, colon: colon) || (b >= 0x30 && b <= 0x39) }

    /// One sample line (no leading blanks).
    static func parseSample(_ b: [UInt8]) throws -> PrometheusSample {
        var i = 0
        let name = try scanName(b, &i, colon: true, what: "metric name")
        var labels: [PrometheusLabel] = []
        if i < b.count && b[i] == UInt8(ascii: "{") {
            i += 1
            labels = try scanLabels(b, &i)
        }
        guard i < b.count, b[i] == 0x20 || b[i] == 0x09 else { throw LineError(message: "expected a blank before the value") }
        while i < b.count && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
        let start = i
        while i < b.count && b[i] != 0x20 && b[i] != 0x09 { i += 1 }
        let text = String(decoding: b[start..<i], as: UTF8.self)
        guard let value = parseValue(text) else { throw LineError(message: "'\(text)' is not a sample value") }
        while i < b.count && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
        if i < b.count {
            // An optional timestamp (integer milliseconds); anything else is an error.
            let rest = String(decoding: b[i...], as: UTF8.self).trimmingBlanks
            guard Int64(rest) != nil else { throw LineError(message: "'\(rest)' after the value is not a timestamp") }
        }
        return PrometheusSample(name: name, labels: labels, value: value)
    }

    static func scanName(_ b: [UInt8], _ i: inout Int, colon: Bool, what: String) throws -> String {
        let start = i
        guard i < b.count, isNameStart(b[i], colon: colon) else { throw LineError(message: "expected a \(what)") }
        i += 1
        while i < b.count && isNameChar(b[i], colon: colon) { i += 1 }
        return String(decoding: b[start..<i], as: UTF8.self)
    }

    /// `l="v",…}` after the opening brace; a trailing comma is allowed, as the format allows.
    static func scanLabels(_ b: [UInt8], _ i: inout Int) throws -> [PrometheusLabel] {
        var labels: [PrometheusLabel] = []
        while true {
            while i < b.count && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
            if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return labels }
            let name = try scanName(b, &i, colon: false, what: "label name")
            guard i + 1 < b.count, b[i] == UInt8(ascii: "="), b[i + 1] == UInt8(ascii: "\"") else {
                throw LineError(message: "label '\(name)' needs =\"value\"")
            }
            i += 2
            var value: [UInt8] = []
            while true {
                guard i < b.count else { throw LineError(message: "label '\(name)' has an unterminated value") }
                let c = b[i]
                i += 1
                if c == UInt8(ascii: "\"") { break }
                if c == UInt8(ascii: "\\") {
                    guard i < b.count else { throw LineError(message: "label '\(name)' ends in a backslash") }
                    switch b[i] {
                    case UInt8(ascii: "n"): value.append(0x0A)
                    case UInt8(ascii: "\\"), UInt8(ascii: "\""): value.append(b[i])
                    default: throw LineError(message: "label '\(name)' has an unknown escape \\\(Character(UnicodeScalar(b[i])))")
                    }
                    i += 1
                } else {
                    value.append(c)
                }
            }
            labels.append(PrometheusLabel(name, String(decoding: value, as: UTF8.self)))
            while i < b.count && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
            if i < b.count && b[i] == UInt8(ascii: ",") { i += 1; continue }
            guard i < b.count, b[i] == UInt8(ascii: "}") else { throw LineError(message: "expected ',' or '}' after label '\(name)'") }
            i += 1
            return labels
        }
    }

    /// A Go-style float: decimal or exponent forms, `NaN`, `+Inf`, `-Inf`, `Inf`.
    static func parseValue(_ s: String) -> Double? {
        switch s {
        case "NaN": return .nan
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        default: break
        }
        guard let first = s.utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
                || (first >= 0x30 && first <= 0x39) else { return nil }
        guard let v = Double(s), v.isFinite else { return nil }
        return v
    }
}

extension String {
    fileprivate var trimmingBlanks: String {
        String(self.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
