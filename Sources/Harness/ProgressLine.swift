import BenchCore
import Foundation

/// A progress line on a terminal's stderr for runs longer than a second, at most four times a
/// second; `clear` removes it.
public final class ProgressLine {
    let label: String
    let start = monotonicSeconds()
    var last: Double

    /// nil when not `enabled` or stderr is not a terminal.
    public init?(label: String, enabled: Bool) {
        guard enabled, isatty(2) != 0 else { return nil }
        self.label = label
        last = start
    }

    public func show(_ p: EngineProgress) {
        let t = monotonicSeconds()
        guard t - last > 0.25 && t - start > 1 else { return }
        last = t
        writeStderr(String(format: "\r  %@: simulated %.0f s, %d/%d requests done, %d waiting   ",
                           label, p.simulatedS, p.done, p.total, p.waiting))
    }

    public func clear() {
        if monotonicSeconds() - start > 1 { writeStderr("\r\u{1B}[K") }
    }

    private func writeStderr(_ s: String) {
        try? FileIO.writeAll(2, Array(s.utf8), path: "<stderr>")
    }
}
