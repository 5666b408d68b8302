import BenchCore
import Engine
import Foundation
import Reporting
import Testing
import Workloads
@testable import Harness

/// One class of long prompts under a tight TTFT: the default profile meets it at low rates and
/// misses it above about 18 requests/s (40 requests, sarathi), so a search has a capacity
/// to find between the grid's 1 and 64.
let sweepSpec = """
name: harness-sweep
seed: 3
count: 40
arrival:
  process: poisson
  rate: 4
classes:
  - name: chat
    kind: interactive
    share: 1
    prompt: {dist: uniform, min: 1500, max: 3000}
    output: {dist: fixed, value: 16}
    slo:
      ttft: 400

"""

@Suite struct SweeperTests {
    /// A sweeper over the spec above on the bundled engine, two rates at once.
    func sweeper(into output: String, specDir: TempDir) throws -> (Sweeper, WorkloadGenerator, EngineTarget) {
        let specPath = specDir.file("sweep.yaml")
        try Data(sweepSpec.utf8).write(to: URL(fileURLWithPath: specPath))
        let generator = WorkloadGenerator(spec: try WorkloadSpec.load(path: specPath), specFile: specPath)
        let target = EngineTarget(profile: try defaultProfile(), policy: .sarathi, policyOptions: PolicyOptions())
        var s = Sweeper(target: .engine(target), output: output) { (rate: Double) throws(BenchError) -> Workload in
            try generator.generate(GenerateOptions(rate: rate, count: 40))
        }
        s.jobs = 2
        return (s, generator, target)
    }

    func noSearch() -> Sweeper.Search {
        Sweeper.Search(enabled: false, targetAttainment: 0.9, precision: 0.1, startRate: 1, maxRate: 256)
    }

    @Test func directoryNamesAreShortRates() {
        #expect(Sweeper.directoryName(2) == "rate-2")
        #expect(Sweeper.directoryName(17.74) == "rate-17.74")
        #expect(Sweeper.directoryName(0.5) == "rate-0.5")
    }

    /// A grid of two rates: a results directory each, and sweep.json with both points in rate
    /// order (the grid is given out of order).
    @Test func aGridWritesOnePointPerRateInRateOrder() throws {
        let dir = try TempDir()
        let (s, generator, target) = try sweeper(into: dir.file("sweep"), specDir: dir)
        let header = try generator.generate(GenerateOptions(rate: 8, count: 40)).header
        let outcome = try s.run(grid: [8, 2], search: noSearch(), header: header)
        #expect(!outcome.stopped)
        #expect(outcome.searches.isEmpty)
        #expect(outcome.points.map(\.rateRPS) == [2, 8])
        #expect(outcome.points.map(\.directory) == ["rate-2", "rate-8"])
        for p in outcome.points {
            for name in resultsFiles { #expect(dir.exists("sweep/\(p.directory)/" + name), "\(p.directory): \(name)") }
            #expect(p.summary.run.target == target.identity.description)
            #expect(p.summary.overall.total == 40)
        }

        let c = try SweepFile.read(path: dir.file("sweep/" + SweepFile.name))
        #expect(c.points.count == 2)
        #expect(c.points.map(\.rateRps) == [2, 8])
        #expect(c.points.map(\.dir) == ["rate-2", "rate-8"])
        #expect(c.target == target.identity.description)
        #expect(c.spec == "harness-sweep" && c.seed == 3 && c.count == 40)
        #expect(c.classes == ["chat"])
        #expect(c.search == nil)
        for (p, q) in zip(c.points, outcome.points) {
            // sweep.json keeps 6 decimals.
            #expect(abs(p.attainment - q.summary.overall.attainment.overall) <= 5e-7)
            #expect(abs(p.goodputRps - q.summary.overall.goodputRequestsPerS) <= 5e-7)
        }

        // Each point is the run a single `Harness.run` makes at that rate.
        let single = try Harness.run(try generator.generate(GenerateOptions(rate: 8, count: 40)), on: target, output: dir.file("single"))
        #expect(try dir.read("single/" + ResultsFiles.summary) == dir.read("sweep/rate-8/" + ResultsFiles.summary))
        #expect(single.summary == outcome.points[1].summary)
    }

    /// With the search on: its answer is what `CapacitySearch.Result` promises of every rate
    /// the sweep measured (grid and probes): the lowest failing rate, and the highest passing
    /// rate below it; every rate up to the capacity passes.
    @Test func theSearchedCapacityIsConsistentWithTheProbedPoints() throws {
        let dir = try TempDir()
        let (s, generator, _) = try sweeper(into: dir.file("sweep"), specDir: dir)
        let header = try generator.generate(GenerateOptions(rate: 1, count: 40)).header
        let target = 0.9
        let search = Sweeper.Search(enabled: true, targetAttainment: target, precision: 0.1, startRate: 1, maxRate: 256)
        let outcome = try s.run(grid: [1, 64], search: search, header: header)
        #expect(!outcome.stopped)
        let found = try #require(outcome.searches.first)
        #expect(outcome.searches.count == 1 && found.className == nil)
        let result = found.result

        // Every rate measured, in rate order, each once; the probes are new rates, each a point.
        let rates = outcome.points.map(\.rateRPS)
        #expect(rates == rates.sorted() && Set(rates).count == rates.count)
        #expect(result.probed.allSatisfy { $0 != 1 && $0 != 64 }, "grid rates are not probed again: \(result.probed)")
        #expect(Set(result.probed).count == result.probed.count)
        #expect(Set(rates) == Set([1, 64] + result.probed))
        for r in result.probed {
            #expect(CapacitySearch.round(r) == r)
            #expect(dir.exists("sweep/" + Sweeper.directoryName(r) + "/" + ResultsFiles.summary), "probe \(r)")
        }

        let attainment = Dictionary(uniqueKeysWithValues: outcome.points.map { ($0.rateRPS, $0.summary.overall.attainment.overall) })
        let failing = attainment.filter { $0.value < target }.keys.min()
        let passing = attainment.filter { $0.value >= target && (failing == nil || $0.key < failing!) }.keys.max()
        #expect(result.failingRPS == failing)
        #expect(result.capacityRPS == passing)
        for (rate, a) in attainment where rate <= (result.capacityRPS ?? -1) {
            #expect(a >= target, "rate \(rate) is below the capacity \(result.capacityRPS!) but attains \(a)")
        }
        // On this workload 1 req/s passes and 64 fails: the bracket closes to the precision.
        #expect(result.outcome == .found)
        if result.outcome == .found, let lo = result.capacityRPS, let hi = result.failingRPS {
            #expect(lo < hi)
            #expect((hi - lo) / hi <= search.precision || CapacitySearch.round((lo + hi) / 2) <= lo || CapacitySearch.round((lo + hi) / 2) >= hi)
        }

        // sweep.json: every point, and the search's capacity.
        let c = try SweepFile.read(path: dir.file("sweep/" + SweepFile.name))
        #expect(c.points.map(\.rateRps) == rates)
        let written = try #require(c.search)
        #expect(written.targetAttainment == target)
        #expect(written.className == nil)
        #expect(written.capacityRps == result.capacityRPS)
    }

    /// A grid split into shares (`sweep --points i/N`) and merged (`sweep --merge`) gives the same
    /// bytes as one sweeper over the whole grid: sweep.json (oracle bounds included) and every
    /// file of every rate. A share that is missing, or stopped before its rates ended, makes the
    /// merge incomplete with reasons naming it, and keeps every rate that did finish.
    @Test func sharesOfAGridMergeIntoWhatOneSweeperWrites() throws {
        let dir = try TempDir()
        let grid: [Double] = [1, 2, 4, 8, 16]
        var (whole, generator, _) = try sweeper(into: dir.file("whole"), specDir: dir)
        whole.oracle = true
        let header = try generator.generate(GenerateOptions(rate: 1, count: 40)).header
        _ = try whole.run(grid: grid, search: noSearch(), header: header)
        for i in 0..<3 {
            var (share, _, _) = try sweeper(into: dir.file("share-\(i)"), specDir: dir)
            share.oracle = true
            share.share = Segment(index: i, count: 3)
            let o = try share.run(grid: grid, search: noSearch(), header: header)
            #expect(o.points.map(\.rateRPS) == grid.enumerated().filter { $0.offset % 3 == i }.map(\.element))
        }
        let m = try SweepMerge.merge((0..<3).map { dir.file("share-\($0)") }, into: dir.file("merged"))
        #expect(m.incomplete.isEmpty && m.points.map(\.rateRPS) == grid)
        #expect(try dir.read("merged/" + SweepFile.name) == dir.read("whole/" + SweepFile.name))
        for r in grid {
            let d = Sweeper.directoryName(r)
            for name in resultsFiles { #expect(try dir.read("merged/\(d)/" + name) == dir.read("whole/\(d)/" + name), "\(d)/\(name)") }
        }

        // Share 2 missing, and share 1 stopped after its first rate (a killed pod leaves that file).
        var (stopped, _, _) = try sweeper(into: dir.file("stopped-1"), specDir: dir)
        stopped.share = Segment(index: 1, count: 3)
        stopped.jobs = 1
        let finished = Counter()
        stopped.onPoint = { _ in finished.increment() }
        stopped.shouldStop = { finished.value >= 1 }
        let o = try stopped.run(grid: grid, search: noSearch(), header: header)
        #expect(o.stopped && o.points.map(\.rateRPS) == [2])
        let partial = dir.file("partial")
        let p = try SweepMerge.merge([dir.file("share-0"), dir.file("stopped-1")], into: partial)
        #expect(p.points.map(\.rateRPS) == [1, 2, 8])
        #expect(p.incomplete.contains("share 2/3 is missing"), "\(p.incomplete)")
        #expect(p.incomplete.contains { $0.hasPrefix("share 1/3 (\(dir.file("stopped-1"))) did not finish: 1 of its 2 rates; missing 16") }, "\(p.incomplete)")
        #expect(try !SweepFile.read(path: partial + "/" + SweepFile.name).complete)

        // Not shares of one sweep: refused before anything is written.
        #expect(throws: BenchError.self) { try SweepMerge.merge([dir.file("share-0"), dir.file("whole")], into: dir.file("bad")) }
        #expect(throws: BenchError.self) { try SweepMerge.merge([dir.file("share-0"), dir.file("share-0")], into: dir.file("bad")) }
    }
}

/// A thread-safe count (the sweep's callbacks run on its workers).
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
    func increment() { lock.lock(); n += 1; lock.unlock() }
}
