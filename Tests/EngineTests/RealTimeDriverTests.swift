import BenchCore
@testable import Engine
import Foundation
import Testing

/// The real-time driver on a virtual clock: its thread, inbox, aborts and stop, with the
/// simulated backend. No timings are asserted: the clock jumps, and only real waits for the
/// driver's threads are bounded (by `settle`).
@Suite struct RealTimeDriverTests {
    func makeDriver(_ policy: PolicyName = .sarathi, options: PolicyOptions = PolicyOptions(), clock: VirtualClock) -> RealTimeDriver {
        let profile = testProfile()
        let engine = EngineCore(profile: profile, policy: policy.make(options, profile: profile))
        return RealTimeDriver(engine: engine, backend: SimulatedBackend(profile: profile), clock: clock, checkInvariants: true)
    }

    /// Every request completes with all its tokens, in index order at non-decreasing times, then
    /// one `finished(.completed)`; the stats agree and the invariants held after every step.
    @Test(arguments: PolicyName.allCases)
    func everyRequestCompletesWithItsTokens(policy: PolicyName) throws {
        let clock = VirtualClock()
        let driver = makeDriver(policy, clock: clock)
        defer { driver.stop() }
        let log = TokenEventLog()
        driver.start()
        let shapes = [(50, 5), (300, 20), (800, 12), (1500, 30), (120, 1), (2000, 8)]
        let slos = [SLO(), SLO(ttftMs: 500, tbtMs: 100), SLO(jctS: 60)]
        for (tag, (prompt, output)) in shapes.enumerated() {
            let s = driver.submit(className: "c", promptTokens: prompt, maxOutputTokens: output, slo: slos[tag % slos.count]) { log.append(tag, $0) }
            #expect(s != nil)
        }
        #expect(settle { log.finishedCount == shapes.count && driver.snapshot.completed == shapes.count },
                "finished \(log.finishedCount) of \(shapes.count): \(driver.snapshot)")
        for (tag, (_, output)) in shapes.enumerated() {
            let events = log.events(tag)
            let tokens = events.compactMap { e -> (Int, Double)? in if case .token(let i, let t, _) = e { return (i, t) } else { return nil } }
            #expect(tokens.map(\.0) == Array(0..<output), "request \(tag)")
            #expect(zip(tokens, tokens.dropFirst()).allSatisfy { $0.1 <= $1.1 }, "request \(tag): token times go back")
            #expect(events.last == .finished(.completed, nil) && events.count == output + 1, "request \(tag): \(events.suffix(2))")
        }
        let stats = driver.snapshot
        #expect(stats.iterations > 0)
        #expect(stats.submitted == shapes.count && stats.completed == shapes.count && stats.aborted == 0 && stats.rejected == 0)
        #expect(stats.running == 0 && stats.waiting == 0 && stats.kvUsedBlocks == 0)
        #expect(stats.invariantViolations.isEmpty, "\(stats.invariantViolations.prefix(3))")
    }

    /// With the drop rule, the real-time driver drops a request between iterations once it has
    /// lost its SLO (its first-token deadline passed), and sends it `finished(.dropped)`.
    @Test(arguments: SLORules.policies)
    func theDropRuleDropsBetweenIterations(policy: PolicyName) throws {
        var options = PolicyOptions()
        options.sloRules.dropLost = true
        let driver = makeDriver(policy, options: options, clock: VirtualClock())
        defer { driver.stop() }
        let log = TokenEventLog()
        _ = try #require(driver.submit(className: "long", promptTokens: 4000, maxOutputTokens: 4, slo: SLO(ttftMs: 5000)) { log.append(0, $0) })
        _ = try #require(driver.submit(className: "tight", promptTokens: 100, maxOutputTokens: 50, slo: SLO(ttftMs: 1, tbtMs: 200)) { log.append(1, $0) })
        driver.start()
        #expect(settle { log.finishedCount == 2 }, "\(driver.snapshot)")
        #expect(log.events(0).last == .finished(.completed, nil))
        // Dropped either before its first token or right after it, which came too late.
        let tight = log.events(1)
        #expect(tight.last == .finished(.dropped, EngineCore.droppedReason) && tight.count <= 2, "\(tight)")
        #expect(driver.snapshot.invariantViolations.isEmpty)
    }

    /// Aborting a running request frees its KV blocks (applied between iterations) and sends it
    /// one `finished(.aborted)`.
    @Test func abortOfARunningRequestFreesItsKV() throws {
        let clock = VirtualClock(gated: true)
        let driver = makeDriver(clock: clock)
        defer {
            clock.runFree()
            driver.stop()
        }
        let log = TokenEventLog()
        let s = try #require(driver.submit(className: "c", promptTokens: 100, maxOutputTokens: 1000, slo: SLO()) { log.append(0, $0) })
        driver.start()
        // The first iteration is in flight; let it end, and hold the second.
        #expect(settle { clock.sleepsEntered >= 1 })
        clock.allow(1)
        #expect(settle { clock.sleepsEntered >= 2 })
        let before = driver.snapshot
        #expect(before.iterations >= 1 && before.running == 1 && before.kvUsedBlocks > 0, "\(before)")

        driver.abort(s, reason: "client went away")
        clock.runFree()
        #expect(settle { driver.snapshot.aborted == 1 }, "\(driver.snapshot)")
        let after = driver.snapshot
        #expect(after.kvUsedBlocks == 0 && after.running == 0 && after.waiting == 0 && after.completed == 0, "\(after)")
        #expect(after.invariantViolations.isEmpty, "\(after.invariantViolations.prefix(3))")
        #expect(settle { log.finishedCount == 1 })
        let events = log.events(0)
        #expect(events.last == .finished(.aborted, "client went away"))
        #expect(events.count - 1 < 1000, "aborted before its last token")
        // Aborting it again is harmless: a request submitted after that abort still completes,
        // and nothing more reaches the aborted one.
        driver.abort(s, reason: "again")
        #expect(driver.submit(className: "c", promptTokens: 10, maxOutputTokens: 3, slo: SLO()) { log.append(1, $0) } != nil)
        #expect(settle { driver.snapshot.completed == 1 && log.finishedCount == 2 }, "\(driver.snapshot)")
        #expect(driver.snapshot.aborted == 1 && log.events(0) == events)
    }

    /// `stop()` aborts every request left (running ones and those still in the inbox), ends the
    /// thread, and the driver takes no more requests.
    @Test func stopAbortsWhatIsLeft() throws {
        let clock = VirtualClock(gated: true)
        let driver = makeDriver(clock: clock)
        defer {
            clock.runFree()
            driver.stop()
        }
        let log = TokenEventLog()
        for tag in 0..<3 {
            let s = driver.submit(className: "c", promptTokens: 200 * (tag + 1), maxOutputTokens: 2000, slo: SLO()) { log.append(tag, $0) }
            #expect(s != nil)
        }
        driver.start()
        #expect(settle { clock.sleepsEntered >= 1 }, "the first iteration is in flight")

        let stopped = Flag()
        Thread { driver.stop(); stopped.set() }.start()
        // The engine thread is held in the first iteration; once `submit` refuses, the stop is
        // registered. Probes accepted before that are aborted with the rest.
        var probes = 0
        #expect(settle {
            let tag = 100 + probes
            if driver.submit(className: "probe", promptTokens: 10, maxOutputTokens: 5, slo: SLO(), onEvent: { log.append(tag, $0) }) == nil {
                return true
            }
            probes += 1
            return false
        })
        clock.runFree()
        #expect(settle { stopped.isSet }, "stop() returned")

        let stats = driver.snapshot
        let total = 3 + probes
        #expect(stats.submitted == total && stats.aborted == total && stats.completed == 0, "\(stats)")
        #expect(stats.running == 0 && stats.waiting == 0 && stats.kvUsedBlocks == 0, "\(stats)")
        #expect(stats.invariantViolations.isEmpty, "\(stats.invariantViolations.prefix(3))")
        // stop() waits for the delivery thread, so every event is in by now.
        #expect(log.finishedCount == total)
        for tag in Array(0..<3) + (0..<probes).map({ 100 + $0 }) {
            let last = log.events(tag).last
            var aborted = false
            if case .finished(.aborted, _)? = last { aborted = true }
            #expect(aborted, "request \(tag): \(String(describing: last))")
        }
        #expect(driver.submit(className: "c", promptTokens: 10, maxOutputTokens: 5, slo: SLO(), onEvent: { _ in }) == nil)
    }
}

/// Waits (really, polling every millisecond) until `condition` holds; false after `timeoutS`.
private func settle(timeoutS: Double = 30, _ condition: () -> Bool) -> Bool {
    let end = monotonicSeconds() + timeoutS
    while !condition() {
        if monotonicSeconds() > end { return false }
        Thread.sleep(forTimeInterval: 0.001)
    }
    return true
}

/// A virtual `RealTimeClock`: `sleep(until:)` moves the time to its target at once. A gated
/// clock holds each sleep until the test allows it (or 10 s of real time pass, so a failing
/// test cannot hang the driver's thread).
final class VirtualClock: RealTimeClock, @unchecked Sendable {
    private let condition = NSCondition()
    private var t: Double
    /// Sleeps still allowed; nil: every sleep returns at once.
    private var permits: Int?
    private var entered = 0

    init(startS: Double = 1000, gated: Bool = false) {
        t = startS
        permits = gated ? 0 : nil
    }

    func now() -> Double {
        condition.lock()
        defer { condition.unlock() }
        return t
    }

    func sleep(until target: Double) {
        condition.lock()
        defer { condition.unlock() }
        entered += 1
        let giveUp = monotonicSeconds() + 10
        while let p = permits, p <= 0, monotonicSeconds() < giveUp {
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.01))
        }
        if let p = permits { permits = max(0, p - 1) }
        if target > t { t = target }
    }

    /// Sleeps that have begun (the driver's iterations started).
    var sleepsEntered: Int {
        condition.lock()
        defer { condition.unlock() }
        return entered
    }

    /// Lets `n` more sleeps return (a gated clock).
    func allow(_ n: Int) {
        condition.lock()
        permits = (permits ?? 0) + n
        condition.broadcast()
        condition.unlock()
    }

    /// Ungates the clock: every sleep returns at once from now on.
    func runFree() {
        condition.lock()
        permits = nil
        condition.broadcast()
        condition.unlock()
    }
}

/// Each request's events, by the tag the test gave it (its submission closure's).
/// A backend whose `failAt`-th iteration (0-based) fails, as a device error would.
struct FailingBackend: ExecutionBackend {
    var inner: SimulatedBackend
    let failAt: Int
    var calls = 0

    mutating func execute(_ plan: StepPlan) -> StepResult {
        defer { calls += 1 }
        return calls == failAt ? StepResult(durationS: 0, failure: "device lost") : inner.execute(plan)
    }
}

@Suite struct BackendFailureTests {
    /// Nothing of the failed iteration is applied; every request in flight, and every one that
    /// arrives afterwards, ends aborted with the backend's reason; the failure is in the stats.
    @Test func aFailedIterationAbortsEveryRequestWithItsReason() throws {
        let profile = testProfile()
        let engine = EngineCore(profile: profile, policy: PolicyName.sarathi.make(PolicyOptions(), profile: profile))
        let driver = RealTimeDriver(engine: engine, backend: FailingBackend(inner: SimulatedBackend(profile: profile), failAt: 3),
                                    clock: VirtualClock(), checkInvariants: true)
        defer { driver.stop() }
        let log = TokenEventLog()
        driver.start()
        for tag in 0..<3 { _ = driver.submit(className: "c", promptTokens: 200, maxOutputTokens: 50, slo: SLO()) { log.append(tag, $0) } }
        #expect(settle { log.finishedCount == 3 }, "\(driver.snapshot)")
        _ = driver.submit(className: "c", promptTokens: 10, maxOutputTokens: 2, slo: SLO()) { log.append(3, $0) }
        #expect(settle { log.finishedCount == 4 }, "\(driver.snapshot)")
        for tag in 0..<4 {
            #expect(log.events(tag).last == .finished(.aborted, "backend failed: device lost"), "request \(tag): \(log.events(tag).suffix(1))")
        }
        #expect(driver.snapshot.backendFailure == "device lost")
        #expect(driver.snapshot.iterations == 3)
        #expect(driver.snapshot.invariantViolations.isEmpty)
    }
}

final class TokenEventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var byTag: [Int: [TokenEvent]] = [:]

    func append(_ tag: Int, _ e: TokenEvent) {
        lock.lock()
        byTag[tag, default: []].append(e)
        lock.unlock()
    }

    func events(_ tag: Int) -> [TokenEvent] {
        lock.lock()
        defer { lock.unlock() }
        return byTag[tag] ?? []
    }

    /// Requests that have had a `finished` event.
    var finishedCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return byTag.values.filter { events in
            events.contains { e in if case .finished = e { true } else { false } }
        }.count
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
