import BenchCore
import Foundation

/// Output formats and the gnuplot terminals that write them. Debian's gnuplot-nox 5.4 has the
/// cairo terminals (`gnuplot -e 'set terminal'` lists pngcairo, pdfcairo and svg), so PNG and
/// PDF use cairo (antialiased, transparency for the Gantt chart's queued segments).
public enum PlotFormat: String, Sendable, CaseIterable {
    case png, svg, pdf

    public var fileExtension: String { rawValue }

    /// The `set terminal` arguments for a figure of `width`×`height` pixels. PDF sizes are in
    /// inches: 100 px to the inch (our choice; it keeps the fonts in proportion). `noenhanced`:
    /// class and run names are printed as they are (enhanced text would turn `_` into subscripts).
    public func terminal(width: Int, height: Int) -> String {
        switch self {
        case .png: return "pngcairo size \(width),\(height) noenhanced font ',10'"
        case .svg: return "svg size \(width),\(height) dynamic noenhanced font 'Sans,10'"
        case .pdf: return String(format: "pdfcairo size %.2fin,%.2fin noenhanced font ',8'", Double(width) / 100, Double(height) / 100)
        }
    }
}

/// Runs gnuplot as a child process with the script on its standard input. (Debian's
/// gnuplot-iostream C++ header was measured to report success on a failed plot and pulls in
/// Boost, so it is not used.) gnuplot 5.4 exits with status 1 when a command of a script read
/// from stdin fails (checked: a misspelt keyword, a missing data file, an empty plot); stderr is
/// also scanned for gnuplot's error lines, so a gnuplot that reports an error and exits 0 still
/// fails the figure.
public struct GnuplotRunner: Sendable {
    /// The gnuplot executable; found on PATH by default.
    public var executable: String

    public init(executable: String? = nil) throws(BenchError) {
        if let executable {
            self.executable = executable
        } else if let found = GnuplotRunner.findOnPath() {
            self.executable = found
        } else {
            throw BenchError.io("gnuplot", "not found on PATH; install it (Debian: apt-get install gnuplot-nox)")
        }
    }

    static func findOnPath() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/gnuplot"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// What gnuplot printed on a successful run: warnings, which do not fail a figure.
    public struct Outcome: Sendable {
        public var warnings: [String]
    }

    /// Runs `script` in `directory` (so its relative file names resolve there, as they do for a
    /// person running `cd directory && gnuplot NAME.gp`). `scriptPath` is where the same script
    /// was written; error messages name it.
    public func run(script: String, in directory: String, scriptPath: String) throws(BenchError) -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = []
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        let stdin = Pipe(), stderr = Pipe()
        p.standardInput = stdin
        p.standardError = stderr
        p.standardOutput = FileHandle.nullDevice
        // A gnuplot that stops early must not kill us with SIGPIPE while we write its script;
        // the write then fails with EPIPE, and gnuplot's exit status says why.
        signal(SIGPIPE, SIG_IGN)
        do {
            try p.run()
        } catch {
            throw BenchError.io(executable, "cannot start gnuplot: \(error)")
        }
        // stderr is drained on another thread, so neither side can block on a full pipe.
        let errBox = DataBox()
        let reader = Thread {
            errBox.data = stderr.fileHandleForReading.readDataToEndOfFile()
            errBox.done.signal()
        }
        reader.start()
        try? stdin.fileHandleForWriting.write(contentsOf: Data(script.utf8))
        try? stdin.fileHandleForWriting.close()
        p.waitUntilExit()
        errBox.done.wait()
        let text = String(decoding: errBox.data, as: UTF8.self)
        let status = p.terminationStatus
        let errors = GnuplotRunner.errorLines(text)
        if status != 0 || p.terminationReason != .exit || !errors.isEmpty {
            var why = p.terminationReason == .exit ? "exit status \(status)" : "killed by signal \(status)"
            if let line = GnuplotRunner.scriptLine(of: text, in: script) { why += ", at script line \(line)" }
            let shown = text.split(separator: "\n", omittingEmptySubsequences: true).map { "  " + $0 }.joined(separator: "\n")
            throw BenchError.io(scriptPath, "gnuplot failed (\(why)):\n" + (shown.isEmpty ? "  (gnuplot printed nothing)" : shown))
        }
        let warnings = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.lowercased().contains("warning") }
        return Outcome(warnings: warnings)
    }

    /// gnuplot's error lines: `line N: message` or anything saying error, except warnings
    /// (`line N: warning: ...`), which gnuplot prints for plots it still draws.
    static func errorLines(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { line in
            let lower = line.lowercased()
            if lower.contains("warning:") { return false }
            return lower.contains("error") || lower.range(of: #"line [0-9]+:"#, options: .regularExpression) != nil
        }
    }

    /// gnuplot reading stdin numbers its lines 0, but it echoes the failing command after
    /// `gnuplot> ` (continuation lines joined), or a whole `do for { … }` block after `more> `
    /// (its lines joined by `;`) with a caret under the error: find that command in the script
    /// for a useful line number (the first logical line that reads the same; nil when none does).
    static func scriptLine(of stderr: String, in script: String) -> Int? {
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let at = lines.firstIndex(where: { $0.contains("gnuplot> ") || $0.contains("more> ") }) else { return nil }
        let echo = lines[at]
        let marker = echo.range(of: "gnuplot> ") ?? echo.range(of: "more> ")!
        let command = String(echo[marker.upperBound...])
        var statement = command
        // The caret's column picks the statement out of a block echoed on one line.
        if at + 1 < lines.count, let caret = lines[at + 1].firstIndex(of: "^") {
            let column = lines[at + 1].distance(from: lines[at + 1].startIndex, to: caret) - echo.distance(from: echo.startIndex, to: marker.upperBound)
            if column >= 0 && column <= command.count {
                let chars = Array(command)
                var a = min(column, chars.count)
                while a > 0 && chars[a - 1] != ";" { a -= 1 }
                var b = min(column, chars.count)
                while b < chars.count && chars[b] != ";" { b += 1 }
                statement = String(chars[a..<b])
            }
        }
        let wanted = statement.trimmingCharacters(in: .whitespaces)
        guard !wanted.isEmpty else { return nil }
        let scriptLines = script.split(separator: "\n", omittingEmptySubsequences: false)
        var i = 0
        while i < scriptLines.count {
            let start = i
            var logical = ""
            while i < scriptLines.count {
                let l = scriptLines[i]
                i += 1
                if l.hasSuffix("\\") { logical += l.dropLast() } else { logical += l; break }
            }
            if logical.trimmingCharacters(in: .whitespaces) == wanted { return start + 1 }
        }
        return nil
    }
}

/// The stderr bytes handed from the reading thread.
private final class DataBox: @unchecked Sendable {
    var data = Data()
    let done = DispatchSemaphore(value: 0)
}
