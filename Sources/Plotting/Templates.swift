import BenchCore
import Foundation

/// The gnuplot templates, one per figure. `plots/*.gp` in the repository is the canonical text;
/// the binary carries a generated copy (`EmbeddedTemplates.swift`) so that it runs from any
/// directory without resource files next to it. A user's directory (`--templates`) overrides
/// them one file at a time.
public struct PlotTemplates: Sendable {
    /// A user's template directory; a figure whose `NAME.gp` is not there uses the built-in one.
    public var overrideDirectory: String?

    public init(overrideDirectory: String? = nil) {
        self.overrideDirectory = overrideDirectory
    }

    /// The built-in templates by figure name.
    public static var builtIn: [String: String] { EmbeddedTemplates.all }

    /// The template text for a figure and where it came from (for error messages).
    public func template(for figure: String) throws(BenchError) -> (text: String, source: String) {
        if let dir = overrideDirectory {
            let path = dir + "/" + figure + ".gp"
            if FileIO.exists(path) {
                return (String(decoding: try FileIO.readFile(path), as: UTF8.self), path)
            }
        }
        guard let text = EmbeddedTemplates.all[figure] else {
            throw BenchError.usage("no template for figure '\(figure)'")
        }
        return (text, "built-in plots/\(figure).gp")
    }

    /// Replaces every `{{NAME}}` with its value. A placeholder without a value is an error
    /// naming it, so a user's template cannot silently plot nothing.
    public static func fill(_ template: String, values: [String: String], source: String) throws(BenchError) -> String {
        var out = ""
        out.reserveCapacity(template.utf8.count + 256)
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            let after = rest[open.upperBound...]
            guard let close = after.range(of: "}}") else {
                throw BenchError.data(source, "unclosed placeholder '{{' (expected NAME}})")
            }
            let name = String(after[..<close.lowerBound])
            guard let value = values[name] else {
                let known = values.keys.sorted().joined(separator: ", ")
                throw BenchError.data(source, "unknown placeholder {{\(name)}}; this figure fills: \(known)")
            }
            out += value
            rest = after[close.upperBound...]
        }
        out += rest
        return out
    }
}

/// Values as gnuplot reads them.
enum GP {
    /// A double-quoted gnuplot string (backslash escapes are interpreted inside double quotes).
    static func string(_ s: String) -> String {
        var out = "\""
        for ch in s {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n", "\r", "\t": out += " "
            default: out.append(ch)
            }
        }
        return out + "\""
    }

    /// A number for a script: `%.10g` (plenty for a figure); NaN for nil or non-finite, which
    /// the templates test for with `x == x`.
    static func number(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "NaN" }
        return String(format: "%.10g", x)
    }

    /// A data-file cell: 9 significant digits are far below a pixel and keep the files small.
    static func cell(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "NaN" }
        return String(format: "%.9g", x)
    }

    static func list(_ items: [String]) -> String { items.joined(separator: ", ") }
}
