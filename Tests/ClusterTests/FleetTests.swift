import BenchCore
import Engine
import Foundation
import Testing
@testable import Cluster

/// Runs a fleet and keeps what it reports.
struct FleetRun {
    var records: [RequestRecord] = []
    var timeline: [TimelineEvent] = []
    var outcome: FleetSimulator.Outcome

    init(_ requests: [WorkloadRequest], autoscaler: any Autoscaler, options: FleetOptions, batchClasses: Set<String> = ["batch"],
         policy: PolicyName = .sarathi, jitterCV: Double = 0) throws {
        let sim = FleetSimulator(profile: try HardwareProfile.resolve(HardwareProfile.defaultName), policy: policy,
                                 policyOptions: PolicyOptions(), options: options, autoscaler: autoscaler)
        sim.jitterCV = jitterCV
        sim.jitterSeed = 7
        var records: [RequestRecord] = []
        var timeline: [TimelineEvent] = []
        outcome = try sim.run(requests, batchClasses: batchClasses, onRecord: { records.append($0) }, onTimeline: { timeline.append($0) })
        self.records = records
        self.timeline = timeline
    }

    var scaleOuts: [(t: Double, instance: Int, pool: Pool, reason: String)] {
        timeline.compactMap { if case .scaleOut(let t, let i, let p, let r) = $0 { return (t, i, p, r) } else { return nil } }
    }
    var scaleIns: [(t: Double, instance: Int)] {
        timeline.compactMap { if case .scaleIn(let t, let i, _, _) = $0 { return (t, i) } else { return nil } }
    }
    var readies: [Int: Double] {
        var out: [Int: Double] = [:]
        for e in timeline { if case .ready(let t, let i, _) = e { out[i] = t } }
        return out
    }
    var stoppedGPUSeconds: Double {
        timeline.reduce(0) { if case .stopped(_, _, _, let g) = $1 { return $0 + g } else { return $0 } }
    }
}

/// Interactive requests (TTFT 2 s, TBT 200 ms) and batch jobs (JCT `jctS`), `rate` per second
/// each over `seconds`, with seeded lengths; `onOff` gives the interactive rate a square wave.
func mixedRequests(seed: UInt64, seconds: Double, interactiveRate: Double, batchRate: Double, jctS: Double = 900,
                   onOff: Double? = nil) -> [WorkloadRequest] {
    var rng = SeededRNG(seed: seed)
    var out: [WorkloadRequest] = []
    var t = 0.0
    while true {
        t += rng.exponential() / interactiveRate
        guard t < seconds else { break }
        if let period = onOff, Int(t / period) % 2 == 1 { continue }
        out.append(WorkloadRequest(id: 0, arrivalS: t, className: "interactive", promptTokens: 200 + Int(rng.uniform(0, 800)),
                                   outputTokens: 50 + Int(rng.uniform(0, 200)), slo: SLO(ttftMs: 2000, tbtMs: 200)))
    }
    t = 0
    while batchRate > 0 {
        t += rng.exponential() / batchRate
        guard t < seconds else { break }
        out.append(WorkloadRequest(id: 0, arrivalS: t, className: "batch", promptTokens: 500 + Int(rng.uniform(0, 1500)),
                                   outputTokens: 100 + Int(rng.uniform(0, 400)), slo: SLO(jctS: jctS)))
    }
    out.sort { ($0.arrivalS, $0.className) < ($1.arrivalS, $1.className) }
    for i in out.indices { out[i].id = i }
    return out
}

func options(min: Int, max: Int, initial: Int? = nil, startup: Double = 60) -> FleetOptions {
    var o = FleetOptions()
    o.minInstances = min
    o.maxInstances = max
    o.initialInstances = initial
    o.startupDelayS = startup
    return o
}

@Suite struct FleetTests {
    static var autoscalers: [(String, () -> any Autoscaler)] {
        [("chiron", { ChironAutoscaler() }), ("utilization", { UtilizationAutoscaler() }),
         ("llumnix", { LlumnixAutoscaler() }), ("static", { StaticAutoscaler() })]
    }

    @Test(arguments: [0, 1, 2, 3])
    func everyRequestIsReportedOnceAndGPUSecondsAddUp(_ k: Int) throws {
        let (name, make) = FleetTests.autoscalers[k]
        let requests = mixedRequests(seed: 11, seconds: 240, interactiveRate: 6, batchRate: 1)
        let run = try FleetRun(requests, autoscaler: make(), options: options(min: 1, max: 6, startup: 30))
        #expect(run.records.count == requests.count, "\(name)")
        #expect(Set(run.records.map(\.id)) == Set(requests.map(\.id)), "\(name)")
        // Every request finished (the fleet never gives up on a servable request).
        #expect(run.records.allSatisfy { $0.status == "ok" && $0.outputTokens == requests[$0.id].outputTokens }, "\(name)")
        // GPU-seconds: the timeline's stops sum to the outcome, and each instance is billed
        // from its scale-out to its stop, never beyond the run's end.
        #expect(abs(run.stoppedGPUSeconds - run.outcome.gpuSeconds) < 1e-6, "\(name)")
        #expect(run.outcome.gpuSeconds <= Double(run.outcome.instancesStarted) * run.outcome.endS + 1e-6)
        // Token times are increasing for every request, across evictions too.
        for r in run.records { #expect(zip(r.tokenTimesS, r.tokenTimesS.dropFirst()).allSatisfy { $0 <= $1 }, "\(name) request \(r.id)") }
    }

    @Test func noInstanceServesBeforeItsStartUpDelay() throws {
        // A burst far above one instance's capacity: every autoscaler scales out.
        let requests = mixedRequests(seed: 3, seconds: 300, interactiveRate: 30, batchRate: 2)
        for (name, make) in FleetTests.autoscalers where name != "static" {
            let run = try FleetRun(requests, autoscaler: make(), options: options(min: 1, max: 5, startup: 45))
            #expect(!run.scaleOuts.filter { $0.reason != "initial fleet" }.isEmpty, "\(name) never scaled out")
            let readies = run.readies
            for s in run.scaleOuts where s.reason != "initial fleet" {
                if let ready = readies[s.instance] { #expect(abs(ready - (s.t + 45)) < 1e-9, "\(name) instance \(s.instance)") }
            }
            #expect(run.outcome.peakInstances <= 5)
        }
    }

    @Test func chironDoesNotFlapOnASquareWave() throws {
        // Interactive load on for 60 s, off for 60 s, for 20 minutes; no batch work.
        let requests = mixedRequests(seed: 8, seconds: 1200, interactiveRate: 25, batchRate: 0, onOff: 60)
        var chiron = ChironAutoscaler()
        chiron.hysteresisS = 120
        let run = try FleetRun(requests, autoscaler: chiron, options: options(min: 1, max: 6, startup: 30))
        // No instance is removed sooner than the hysteresis window after the previous removal, so
        // a 60 s half-period cannot drive a scale-in per cycle.
        let ins = run.scaleIns.map(\.t)
        for (a, b) in zip(ins, ins.dropFirst()) { #expect(b - a >= 120 - 1e-9) }
        #expect(ins.count <= 1200 / 120)
        // A utilization autoscaler without hysteresis does flap on the same load.
        let util = try FleetRun(requests, autoscaler: UtilizationAutoscaler(), options: options(min: 1, max: 6, startup: 30))
        #expect(util.outcome.scaleEvents > run.outcome.scaleEvents)
    }

    @Test func deterministicForASeed() throws {
        let requests = mixedRequests(seed: 21, seconds: 200, interactiveRate: 12, batchRate: 1)
        let a = try FleetRun(requests, autoscaler: ChironAutoscaler(), options: options(min: 1, max: 4, startup: 20))
        let b = try FleetRun(requests, autoscaler: ChironAutoscaler(), options: options(min: 1, max: 4, startup: 20))
        #expect(a.records.map(\.jsonLine) == b.records.map(\.jsonLine))
        #expect(a.timeline.map { $0.json() } == b.timeline.map { $0.json() })
    }

    /// The fast path (stretches of settled decode steps computed at once) changes nothing: the
    /// same records to the bit, timeline and counters as iteration-by-iteration, for every
    /// autoscaler, with and without jitter, for both policies that take it.
    // Serialized: 32 fleet runs of CPU-bound work; in parallel they would hold every thread of
    // the pool that live-server suites need.
    @Test(.serialized, arguments: [0, 1, 2, 3])
    func settledDecodeStretchesMatchIterationByIteration(_ k: Int) throws {
        let (name, make) = FleetTests.autoscalers[k]
        // A steady mix on a small fleet, and on/off interactive bursts over a batch backlog
        // (scale events, batch-size changes, evictions).
        let steady = (mixedRequests(seed: 31, seconds: 150, interactiveRate: 10, batchRate: 1.5, jctS: 200), options(min: 1, max: 4, initial: 2, startup: 20))
        let bursty = (mixedRequests(seed: 32, seconds: 240, interactiveRate: 40, batchRate: 3, jctS: 300, onOff: 40), options(min: 1, max: 4, initial: 1, startup: 20))
        var sawEvictions = false
        for (scenario, (requests, base)) in [("steady", steady), ("bursty", bursty)] {
            for policy in [PolicyName.sarathi, .vllm] {
                for jitter in [0.0, 0.05] {
                    var o = base
                    o.batchSize = 24
                    o.fastForward = false
                    let slow = try FleetRun(requests, autoscaler: make(), options: o, policy: policy, jitterCV: jitter)
                    o.fastForward = true
                    let fast = try FleetRun(requests, autoscaler: make(), options: o, policy: policy, jitterCV: jitter)
                    let what = "\(name) \(scenario) \(policy) jitter \(jitter)"
                    #expect(fast.outcome.settledIterations > fast.outcome.iterations / 4, "\(what): the fast path was barely used")
                    #expect(slow.outcome.settledIterations == 0)
                    let ft = fast.timeline.map { String(decoding: $0.json(), as: UTF8.self) }, st = slow.timeline.map { String(decoding: $0.json(), as: UTF8.self) }
                    if let d = ft.indices.first(where: { $0 >= st.count || ft[$0] != st[$0] }) ?? (ft.count != st.count ? min(ft.count, st.count) : nil) {
                        Issue.record("\(what): timelines differ at \(d): \(d < ft.count ? ft[d] : "-") vs \(d < st.count ? st[d] : "-")")
                    }
                    if let d = fast.records.indices.first(where: { $0 < slow.records.count && fast.records[$0] != slow.records[$0] }) {
                        Issue.record("\(what): records differ at \(d): \(String(decoding: fast.records[d].jsonLine, as: UTF8.self).prefix(300)) vs \(String(decoding: slow.records[d].jsonLine, as: UTF8.self).prefix(300))")
                    }
                    #expect(fast.outcome.iterations == slow.outcome.iterations && fast.outcome.endS == slow.outcome.endS
                            && fast.outcome.gpuSeconds == slow.outcome.gpuSeconds && fast.outcome.evictions == slow.outcome.evictions, "\(what)")
                    sawEvictions = sawEvictions || fast.outcome.evictions > 0
                }
            }
        }
        if name == "chiron" { #expect(sawEvictions, "the bursty scenario should make Chiron evict batch work") }
    }

    @Test func staticKeepsItsFleetAndBillsItWhole() throws {
        let requests = mixedRequests(seed: 5, seconds: 120, interactiveRate: 4, batchRate: 0.5)
        let run = try FleetRun(requests, autoscaler: StaticAutoscaler(), options: options(min: 3, max: 3))
        #expect(run.outcome.scaleEvents == 0 && run.outcome.instancesStarted == 3 && run.outcome.peakInstances == 3)
        // Three instances from t = 0 to the last completion.
        #expect(abs(run.outcome.gpuSeconds - 3 * run.outcome.endS) < 1e-6)
    }

    @Test func utilizationScalesOnLoadAndLlumnixOnFreeness() throws {
        // One instance, heavy load: utilization crosses 0.8, freeness falls below 10.
        let requests = mixedRequests(seed: 9, seconds: 180, interactiveRate: 40, batchRate: 0)
        let util = try FleetRun(requests, autoscaler: UtilizationAutoscaler(), options: options(min: 1, max: 3, startup: 10))
        let first = try #require(util.scaleOuts.first { $0.reason != "initial fleet" })
        #expect(first.reason.hasPrefix("utilization") && first.t.truncatingRemainder(dividingBy: 10) == 0)
        let llumnix = try FleetRun(requests, autoscaler: LlumnixAutoscaler(), options: options(min: 1, max: 3, startup: 10))
        #expect(llumnix.scaleOuts.contains { $0.reason.hasPrefix("average freeness") })
        // Light load: neither grows beyond its single instance.
        let light = mixedRequests(seed: 9, seconds: 180, interactiveRate: 0.5, batchRate: 0)
        #expect(try FleetRun(light, autoscaler: UtilizationAutoscaler(), options: options(min: 1, max: 3)).outcome.instancesStarted == 1)
        #expect(try FleetRun(light, autoscaler: LlumnixAutoscaler(), options: options(min: 1, max: 3)).outcome.instancesStarted == 1)
    }

    @Test func chironPreemptsBatchWorkForInteractiveRequestsAndResumesIt() throws {
        // A mixed instance full of batch jobs, then interactive arrivals: batch work is evicted
        // back to the global queue and still completes, with all its tokens.
        var requests: [WorkloadRequest] = []
        for i in 0..<80 {
            requests.append(WorkloadRequest(id: i, arrivalS: Double(i) * 0.01, className: "batch", promptTokens: 1000, outputTokens: 400,
                                            slo: SLO(jctS: 3600)))
        }
        for i in 0..<20 {
            requests.append(WorkloadRequest(id: 80 + i, arrivalS: 5 + Double(i) * 0.1, className: "interactive", promptTokens: 300,
                                            outputTokens: 50, slo: SLO(ttftMs: 2000, tbtMs: 200)))
        }
        var o = options(min: 1, max: 1)
        o.batchSize = 32
        let run = try FleetRun(requests, autoscaler: ChironAutoscaler(), options: o)
        #expect(run.outcome.evictions > 0)
        #expect(run.records.count == 100 && run.records.allSatisfy { $0.status == "ok" })
        for r in run.records where r.className == "batch" { #expect(r.outputTokens == 400) }
        // Interactive requests did not wait for the batch backlog (about a minute of work).
        let interactive = run.records.filter { $0.className == "interactive" }
        #expect(interactive.allSatisfy { ($0.firstTokenS ?? .infinity) - $0.intendedS < 2 })
    }

    @Test func chironLocalAutoscalerHalvesOnTBTMissesAndGrowsWhileThroughputRises() {
        var c = ChironAutoscaler()
        func view(b: Int, load: Int, p99: Double?, tps: Double) -> InstanceView {
            InstanceView(id: 0, pool: .mixed, ready: true, draining: false, load: load, batchSize: b, running: load, batchJobs: 0,
                         kvUsedFraction: 0.5, freenessTokens: 100, busyFraction: 1, tokensPerS: tps, p99TBTms: p99, tightestTBTms: 100,
                         ttftAtRisk: 0, firstTokens: 0, ttftMisses: 0)
        }
        #expect(c.local(view(b: 64, load: 64, p99: 150, tps: 5000), now: 0)?.0 == 32)
        // Saturated with headroom: +8, again while throughput rises, then a plateau stops it.
        #expect(c.local(view(b: 32, load: 32, p99: 50, tps: 3000), now: 2)?.0 == 40)
        #expect(c.local(view(b: 40, load: 40, p99: 50, tps: 3500), now: 4)?.0 == 48)
        #expect(c.local(view(b: 48, load: 48, p99: 50, tps: 3510), now: 6) == nil)
        #expect(c.local(view(b: 48, load: 48, p99: 50, tps: 9000), now: 8) == nil)
        // Not saturated, or near the SLO: no growth.
        var d = ChironAutoscaler()
        #expect(d.local(view(b: 64, load: 10, p99: 50, tps: 3000), now: 0) == nil)
        #expect(d.local(view(b: 64, load: 64, p99: 95, tps: 3000), now: 0) == nil)
    }

    @Test func chironScalesTheBatchPoolWhenTheQueueCannotMeetItsDeadlines() {
        let c = ChironAutoscaler()
        // 100 queued batch requests of 10,000 tokens each due in 100 s, at 4,000 tok/s per
        // instance: 1,000,000 tokens need 2.5 instances (plus the confidence term).
        var queued: [QueuedView] = []
        for i in 0..<100 { queued.append(QueuedView(arrivalS: Double(i), deadlineS: 100, tokens: 10_000, isBatch: true)) }
        let fleet = FleetView(now: 0, instances: [], queued: queued, options: FleetOptions(), ttftRiskFraction: 0.5)
        let (need, _) = c.batchInstancesNeeded(fleet, tokensPerInstance: 4000)
        #expect(abs(need - 2.5) < 1e-9)  // equal lengths: σ = 0
        var chiron = ChironAutoscaler()
        let actions = chiron.control(fleet)
        #expect(actions.filter { if case .scaleOut(.batch, _) = $0 { return true } else { return false } }.count == 3)
    }
}
