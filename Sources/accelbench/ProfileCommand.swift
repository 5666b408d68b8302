import ArgumentParser
import BenchCore
import Engine
import Foundation
import Harness

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Hardware profiles of the simulated GPU: list, show, and build them from measured timings.",
        subcommands: [List.self, Show.self, Build.self, Calibrate.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The built-in profiles.")

        func run() throws {
            try guarded {
                var rows: [[String]] = []
                for name in HardwareProfile.builtinNames {
                    let p = try HardwareProfile.builtin(name)
                    rows.append([name + (name == HardwareProfile.defaultName ? " (default)" : ""), p.gpu, p.model.name,
                                 String(p.tensorParallel), String(p.kvCapacityBlocks * p.blockSizeTokens),
                                 String(p.pivotTokens), String(format: "%.1f", p.pivotMs)])
                }
                print(TextTable.render(header: ["profile", "gpu", "model", "TP", "KV tokens", "S_pf", "T_pf ms"], rows: rows),
                      terminator: "")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a profile as JSON, with predicted iteration times.")

        @Argument(help: "A built-in name or a profile JSON file.")
        var profile = HardwareProfile.defaultName

        @Flag(name: .long, help: "Only the JSON.")
        var json = false

        func run() throws {
            try guarded {
                let p = try HardwareProfile.resolve(profile)
                print(p.jsonString())
                if json { return }
                let m = IterationTimeModel(profile: p)
                var rows: [[String]] = []
                for (label, load) in IterationLoad.examples() {
                    rows.append([label, String(format: "%.2f", m.seconds(load) * 1000)])
                }
                print("\npredicted iteration times (\(p.name)):")
                print(TextTable.render(header: ["iteration", "ms"], rows: rows), terminator: "")
            }
        }
    }

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the profiles from Vidur's measured operator timings (CSV).",
            discussion: "Writes one <name>.json per profile; the shipped ones live in Sources/Engine/Profiles.")

        @Option(name: .long, help: "Vidur profiling folder (with compute/ and network/).")
        var vidur = "../shared/profiling/vidur"

        @Option(name: .shortAndLong, help: "Output folder.")
        var output = "Sources/Engine/Profiles"

        func run() throws {
            try guarded {
                let profiles = try ProfileBuilder.buildAll(vidurDirectory: vidur)
                try FileIO.makeDirectories(output)
                for p in profiles {
                    try FileIO.writeAtomically(Array(p.jsonString().utf8), to: output + "/" + p.name + ".json")
                    print("wrote \(output)/\(p.name).json  S_pf \(p.pivotTokens)  T_pf \(String(format: "%.2f", p.pivotMs)) ms  KV \(p.kvCapacityBlocks) blocks")
                }
            }
        }
    }
}

extension ProfileCommand {
    /// `profile calibrate --engine cpu`: a profile measured on this machine's CPU engine.
    struct Calibrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure the CPU engine's iteration times (or read another machine's, --from) and write a profile the simulated backend reads.",
            discussion: "The linear table, the prefill attention rate and the decode attention rate are measured separately (docs/engine-cpu.md#calibration). --from FILE fits the same terms to the points scripts/gpu/harness.py measured on a GPU (its calibration.json; docs/engine-cuda.md).")

        @OptionGroup var engineFlags: EngineFlags
        @Option(name: .long, help: "Fit the points in this calibration.json (scripts/gpu/harness.py) instead of measuring here.")
        var from: String?
        @Option(name: .long, help: "--from: the profile's name (default: the file's folder and architecture).")
        var name: String?
        @Option(name: .shortAndLong, help: "Profile JSON to write.")
        var output: String
        @Option(name: .long, help: "Timed repetitions per point (medians).")
        var reps = 5

        func run() throws {
            try guarded {
                if let from { return try fit(from) }
                guard engineFlags.engine == "cpu" else { throw BenchError.usage("profile calibrate needs --engine cpu, or --from FILE") }
                guard reps > 0 else { throw BenchError.usage("--reps must be > 0") }
                let target = try engineFlags.cpuTarget(.sarathi, PolicyOptions())
                var c = CPUCalibration(model: target.model, threads: target.threads)
                c.repetitions = reps
                let r = try c.run(base: target.profile)
                try FileIO.writeAtomically(Array((r.profile.jsonString() + "\n").utf8), to: output)
                print(String(format: "%@: linear %.2f ms (1 token) to %.1f ms (%d tokens); per sequence %.2f ms (1) to %.1f ms (%d); prefill attention %.3g s per pair; decode attention %.3g s per context token; S_pf %d, T_pf %.2f ms",
                             output, r.profile.linearMs.first ?? 0, r.profile.linearMs.last ?? 0, r.profile.linearTokens.last ?? 0,
                             r.profile.sequenceMs.first ?? 0, r.profile.sequenceMs.last ?? 0, r.profile.sequenceCounts.last ?? 0,
                             r.secondsPerPair, r.secondsPerContextToken, r.profile.pivotTokens, r.profile.pivotMs))
                print("check (iterations the tables were not fitted on; measured, predicted, predicted/measured):")
                for c in r.checks {
                    print(String(format: "  %@: %.1f ms, %.1f ms, %.2f", c.name, c.measuredS * 1000, c.predictedS * 1000, c.predictedS / c.measuredS))
                }
            }
        }
    }
}

extension ProfileCommand.Calibrate {
    /// `--from FILE`: the GPU harness's points, fitted onto the base profile (`--profile`).
    func fit(_ path: String) throws {
        let file = try CalibrationFile.read(path)
        let profileName = name ?? "cuda-\(file.architecture)"
        let p = try file.profile(base: try HardwareProfile.resolve(engineFlags.profile), name: profileName, path: path)
        try FileIO.writeAtomically(Array((p.jsonString() + "\n").utf8), to: output)
        let points = file.points
        print(String(format: "%@: %@ on %@: linear %.2f ms (%d tokens) to %.1f ms (%d); prefill attention %.3g s per pair; decode attention %.3g s per context token; S_pf %d, T_pf %.2f ms",
                     output, file.architecture, file.device, p.linearMs.first ?? 0, p.linearTokens.first ?? 0, p.linearMs.last ?? 0,
                     p.linearTokens.last ?? 0, points.secondsPerPair, points.secondsPerContextToken, p.pivotTokens, p.pivotMs))
    }
}
