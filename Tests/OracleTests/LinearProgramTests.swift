import Testing
@testable import Oracle

@Suite struct LinearProgramTests {
    /// max 3x + 2y, x + y ≤ 4, x + 3y ≤ 6, x ≤ 3: optimum 11 at (3, 1).
    @Test func aSmallLPHasItsTextbookOptimum() {
        var lp = LinearProgram(sense: .maximize)
        let x = lp.addVariable(upper: 3, objective: 3)
        let y = lp.addVariable(objective: 2)
        lp.addConstraint([(x, 1), (y, 1)], upper: 4)
        lp.addConstraint([(x, 1), (y, 3)], upper: 6)
        let s = lp.solveLP()
        #expect(s.status == .optimal)
        #expect(abs(s.objective - 11) < 1e-9)
        #expect(abs(s.values[x] - 3) < 1e-9 && abs(s.values[y] - 1) < 1e-9)
        #expect(lp.maxViolation(at: s.values) < 1e-9)
        #expect(abs(lp.value(at: s.values) - s.objective) < 1e-9)
        #expect(s.solver.hasPrefix("clp"))
    }

    /// A knapsack whose LP relaxation (8.25) is above its integer optimum (8).
    @Test func theMILPOptimumLiesBelowItsRelaxation() {
        var lp = LinearProgram(sense: .maximize)
        let w = [3.0, 4.0, 2.0], v = [4.0, 5.0, 3.0]
        let xs = (0..<3).map { lp.addVariable(upper: 1, objective: v[$0], integer: true) }
        lp.addConstraint(xs.enumerated().map { ($1, w[$0]) }, upper: 6)
        let relaxed = lp.solveLP()
        let exact = lp.solveMILP(timeLimitS: 30)
        #expect(relaxed.status == .optimal && exact.status == .optimal)
        #expect(abs(relaxed.objective - 8.25) < 1e-9)
        #expect(abs(exact.objective - 8) < 1e-9)
        #expect(exact.values.allSatisfy { abs($0 - $0.rounded()) < 1e-9 })
        #expect(lp.maxViolation(at: exact.values) < 1e-9)
    }

    @Test func infeasibleAndUnboundedAreStatusesNotNumbers() {
        var bad = LinearProgram(sense: .minimize)
        let x = bad.addVariable(objective: 1)
        bad.addConstraint([(x, 1)], lower: 5)
        bad.addConstraint([(x, 1)], upper: 2)
        let s = bad.solveLP()
        #expect(s.status == .infeasible)
        #expect(s.objective.isNaN && s.values.isEmpty)
        #expect(bad.solveMILP(timeLimitS: 10).status == .infeasible)

        var open = LinearProgram(sense: .maximize)
        let y = open.addVariable(objective: 1)
        open.addConstraint([(y, 1)], lower: 1)
        #expect(open.solveLP().status == .unbounded)
    }

    /// Lazy rows the first solve satisfies never reach Clp; one it violates is added and binds;
    /// either way the optimum is the program's with every row inline (Cbc's too).
    @Test func lazyRowsJoinOnlyWhenViolatedAndKeepTheOptimum() {
        var lp = LinearProgram(sense: .maximize)
        let x = lp.addVariable(upper: 3, objective: 3)
        let y = lp.addVariable(objective: 2)
        lp.addConstraint([(x, 1), (y, 1)], upper: 4)
        lp.addLazyConstraint([(x, 1), (y, 3)], upper: 6)  // tight at the optimum (3, 1), not violated
        lp.addLazyConstraint([(x, 1)], lower: -1)
        var inline = LinearProgram(sense: .maximize)
        _ = inline.addVariable(upper: 3, objective: 3)
        _ = inline.addVariable(objective: 2)
        inline.addConstraint([(x, 1), (y, 1)], upper: 4)
        inline.addConstraint([(x, 1), (y, 3)], upper: 6)
        inline.addConstraint([(x, 1)], lower: -1)
        #expect(lp.numConstraints == inline.numConstraints && lp.numNonZeros == inline.numNonZeros)
        let lazy = lp.solveLP(), full = inline.solveLP()
        #expect(lazy.status == .optimal && full.status == .optimal)
        #expect(abs(lazy.objective - full.objective) < 1e-9 && abs(lazy.objective - 11) < 1e-9)
        #expect(lazy.lazyRowsAdded == 0 && lazy.lazyRounds == 0)
        #expect(lp.maxViolation(at: lazy.values) < 1e-9)
        let exact = lp.solveMILP(timeLimitS: 10)
        #expect(exact.status == .optimal && abs(exact.objective - 11) < 1e-9)

        // Without the first row the lazy one must join: max 3x + 2y, x ≤ 3, x + 3y ≤ 6 → 3·3 + 2·1.
        var bare = LinearProgram(sense: .maximize)
        let a = bare.addVariable(upper: 3, objective: 3)
        let b = bare.addVariable(upper: 100, objective: 2)
        bare.addLazyConstraint([(a, 1), (b, 3)], upper: 6)
        let s = bare.solveLP()
        #expect(s.status == .optimal && abs(s.objective - 11) < 1e-9)
        #expect(s.lazyRowsAdded == 1 && s.lazyRounds == 1)
        #expect(bare.maxViolation(at: s.values) < 1e-9)
    }

    @Test func emptyProgramsSolve() {
        let lp = LinearProgram(sense: .maximize)
        let s = lp.solveLP()
        #expect(s.status == .optimal)
        #expect(s.objective == 0)
    }
}
