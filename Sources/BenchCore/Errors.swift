/// Where a piece of bad input sits, so the one-line error can name it.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var field: String?

    public init(file: String, line: Int? = nil, field: String? = nil) {
        self.file = file
        self.line = line
        self.field = field
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let field { s += ": field '\(field)'" }
        return s
    }
}

/// Every error the tool reports to a user. Each case maps to one documented exit code
/// (sysexits.h numbering, so shell scripts can tell usage mistakes from bad data).
public enum BenchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Bad flags or arguments: exit 64.
    case usage(String)
    /// Malformed or inconsistent input data (spec, trace, workload, results): exit 65.
    case data(SourceLocation, String)
    /// A file could not be read or written: exit 74.
    case io(String, String)
    /// What the command needs is not available here (no GPU, no driver, a backend library not
    /// built) or stopped working: exit 69.
    case unavailable(String)

    public var exitCode: Int32 {
        switch self {
        case .usage: return ExitCodes.usage
        case .data: return ExitCodes.dataError
        case .io: return ExitCodes.ioError
        case .unavailable: return ExitCodes.unavailable
        }
    }

    public var description: String {
        switch self {
        case .usage(let msg): return "usage error: \(msg)"
        case .data(let loc, let msg): return "\(loc): \(msg)"
        case .io(let path, let msg): return "\(path): \(msg)"
        case .unavailable(let msg): return msg
        }
    }

    public static func data(_ file: String, line: Int? = nil, field: String? = nil, _ message: String) -> BenchError {
        .data(SourceLocation(file: file, line: line, field: field), message)
    }
}

/// Named exit codes; their meanings are documented in docs/commands.md.
public enum ExitCodes {
    public static let ok: Int32 = 0
    /// A performance gate found a regression.
    public static let regression: Int32 = 2
    /// The run completed but is not a valid measurement (see `invalid_reasons`).
    public static let invalidRun: Int32 = 3
    /// A performance gate found only improvements.
    public static let improvementOnly: Int32 = 4
    /// A gate's baseline file is missing.
    public static let baselineMissing: Int32 = 5
    /// Command-line usage error (sysexits EX_USAGE).
    public static let usage: Int32 = 64
    /// Input data error (sysexits EX_DATAERR).
    public static let dataError: Int32 = 65
    /// A backend or service the command needs is unavailable (sysexits EX_UNAVAILABLE).
    public static let unavailable: Int32 = 69
    /// Input/output error (sysexits EX_IOERR).
    public static let ioError: Int32 = 74
    /// Interrupted by SIGINT after writing partial results (128 + 2).
    public static let interrupted: Int32 = 130
}
