import ArgumentParser
import BenchCore
import Foundation
import Reporting

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the results directories of a split run (run --segment i/N) into one results directory.",
        discussion: """
        Every segment must have run the same workload against the same target. The merged summary is computed \
        from all records through the same metrics path as a single run's. A missing segment, one that did not \
        finish (killed, interrupted) or one with fewer records than its share makes the merge incomplete: the \
        reasons name the segments, every record that arrived is kept, and the exit code is 3.
        """)

    @Argument(help: "The segments' results directories.")
    var directories: [String]

    @Option(name: [.short, .customLong("output")], help: "Merged results directory.")
    var output: String

    @OptionGroup var metrics: MetricsFlags

    @Flag(name: .long, help: "Print summary.json instead of tables.")
    var json = false

    func run() throws {
        try guarded {
            if let d = directories.first(where: { FileIO.exists($0 + "/" + SweepFile.name) }) {
                throw BenchError.usage("\(d) is a sweep directory: join a split sweep's shares with accelbench sweep --merge DIR... -o OUT")
            }
            let m = try SegmentMerge.merge(directories, into: output, options: metrics.options)
            if json {
                FileHandleWriter.write(String(decoding: m.summary.json(), as: UTF8.self), fd: 1)
            } else {
                print(m.summary.table(), terminator: "")
                print("\nmerged \(m.segments) segments, \(m.records) requests into \(output)")
                for r in m.incomplete { print("incomplete: \(r)") }
            }
            if !m.summary.valid { throw BenchExit(code: ExitCodes.invalidRun) }
        }
    }
}
