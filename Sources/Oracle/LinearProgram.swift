import CCoinOR
import Foundation

/// A sparse linear (or mixed-integer) program, solved by COIN-OR Clp (dual simplex) or Cbc
/// (branch and cut). Built row by row in Swift; handed to the solver in column-major form.
public struct LinearProgram: Sendable {
    public enum Sense: Sendable { case maximize, minimize }

    public var sense: Sense
    public private(set) var colLower: [Double] = []
    public private(set) var colUpper: [Double] = []
    public private(set) var objective: [Double] = []
    public private(set) var isInteger: [Bool] = []
    public private(set) var rowLower: [Double] = []
    public private(set) var rowUpper: [Double] = []
    /// Non-zeros as (row, column, value).
    private var entries: [(row: Int32, col: Int32, value: Double)] = []
    /// Rows handed to the LP solver only once its solution violates them (`addLazyConstraint`).
    private var lazyRows: [(terms: [(Int, Double)], lower: Double, upper: Double)] = []

    public init(sense: Sense) {
        self.sense = sense
    }

    public var numVariables: Int { objective.count }
    /// Every row of the program, the lazy ones included.
    public var numConstraints: Int { rowLower.count + lazyRows.count }
    public var numNonZeros: Int { entries.count + lazyRows.reduce(0) { $0 + $1.terms.count } }

    /// Adds a variable with bounds (use ±.infinity for none) and its objective coefficient.
    @discardableResult
    public mutating func addVariable(lower: Double = 0, upper: Double = .infinity, objective c: Double = 0, integer: Bool = false) -> Int {
        colLower.append(lower)
        colUpper.append(upper)
        objective.append(c)
        isInteger.append(integer)
        return objective.count - 1
    }

    /// Adds `lower ≤ Σ coef·x ≤ upper` (±.infinity for a one-sided row). Zero coefficients are dropped.
    @discardableResult
    public mutating func addConstraint(_ terms: [(Int, Double)], lower: Double = -.infinity, upper: Double = .infinity) -> Int {
        let row = Int32(rowLower.count)
        for (c, v) in terms where v != 0 {
            precondition(c >= 0 && c < objective.count, "constraint names a variable that does not exist")
            entries.append((row, Int32(c), v))
        }
        rowLower.append(lower)
        rowUpper.append(upper)
        return Int(row)
    }

    /// Adds a row of the program that the LP solve leaves out until its solution violates it:
    /// it solves without the lazy rows, adds those the solution violates, re-solves from the
    /// last basis (dual simplex), and repeats until none is violated. The answer is then an
    /// optimum of the whole program: it is optimal for a relaxation of it and feasible for it.
    /// Why: rows that rarely bind (the oracle's KV residency) otherwise slow every pivot.
    /// `solveMILP` hands them to Cbc as ordinary rows.
    public mutating func addLazyConstraint(_ terms: [(Int, Double)], lower: Double = -.infinity, upper: Double = .infinity) {
        let kept = terms.filter { $0.1 != 0 }
        for (c, _) in kept { precondition(c >= 0 && c < objective.count, "constraint names a variable that does not exist") }
        lazyRows.append((kept, lower, upper))
    }

    /// The program with its lazy rows made ordinary rows.
    private func withLazyRowsInline() -> LinearProgram {
        var lp = self
        lp.lazyRows = []
        for r in lazyRows { lp.addConstraint(r.terms, lower: r.lower, upper: r.upper) }
        return lp
    }

    /// The objective's value at `x`.
    public func value(at x: [Double]) -> Double {
        zip(objective, x).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// The largest violation of any bound or row at `x` (0 when feasible).
    public func maxViolation(at x: [Double]) -> Double {
        var worst = 0.0
        for j in 0..<numVariables {
            worst = max(worst, colLower[j] - x[j], x[j] - colUpper[j])
        }
        var activity = [Double](repeating: 0, count: rowLower.count)
        for e in entries { activity[Int(e.row)] += e.value * x[Int(e.col)] }
        for i in 0..<rowLower.count {
            worst = max(worst, rowLower[i] - activity[i], activity[i] - rowUpper[i])
        }
        for r in lazyRows { worst = max(worst, Self.violation(of: r, at: x)) }
        return worst
    }

    /// How far `x` lies outside one row (0 inside it).
    private static func violation(of r: (terms: [(Int, Double)], lower: Double, upper: Double), at x: [Double]) -> Double {
        let a = r.terms.reduce(0) { $0 + $1.1 * x[$1.0] }
        return max(0, r.lower - a, a - r.upper)
    }

    /// Column-major arrays for the C APIs (CoinBigIndex is int).
    private func columnMajor() -> (start: [Int32], index: [Int32], value: [Double]) {
        var counts = [Int32](repeating: 0, count: numVariables + 1)
        for e in entries { counts[Int(e.col) + 1] += 1 }
        for j in 0..<numVariables { counts[j + 1] += counts[j] }
        var next = counts
        var index = [Int32](repeating: 0, count: entries.count)
        var value = [Double](repeating: 0, count: entries.count)
        for e in entries {
            let k = Int(next[Int(e.col)])
            next[Int(e.col)] += 1
            index[k] = e.row
            value[k] = e.value
        }
        return (counts, index, value)
    }

    /// The LP solver and its version, as results name it.
    public static var clpName: String { "clp \(String(cString: Clp_Version()))" }

    /// COIN-OR's infinity is DBL_MAX.
    private static func finite(_ v: [Double]) -> [Double] {
        v.map { $0 == .infinity ? Double.greatestFiniteMagnitude : ($0 == -.infinity ? -Double.greatestFiniteMagnitude : $0) }
    }

    /// Hands the program to a C `loadProblem` (Clp's and Cbc's share the signature).
    private func load(_ loader: (Int32, Int32, UnsafePointer<Int32>?, UnsafePointer<Int32>?, UnsafePointer<Double>?,
                                 UnsafePointer<Double>?, UnsafePointer<Double>?, UnsafePointer<Double>?,
                                 UnsafePointer<Double>?, UnsafePointer<Double>?) -> Void) {
        let (start, index, value) = columnMajor()
        let cl = LinearProgram.finite(colLower), cu = LinearProgram.finite(colUpper)
        let rl = LinearProgram.finite(rowLower), ru = LinearProgram.finite(rowUpper)
        start.withUnsafeBufferPointer { s in index.withUnsafeBufferPointer { i in value.withUnsafeBufferPointer { v in
            cl.withUnsafeBufferPointer { a in cu.withUnsafeBufferPointer { b in objective.withUnsafeBufferPointer { c in
                rl.withUnsafeBufferPointer { d in ru.withUnsafeBufferPointer { e in
                    loader(Int32(numVariables), Int32(rowLower.count), s.baseAddress, i.baseAddress, v.baseAddress,
                           a.baseAddress, b.baseAddress, c.baseAddress, d.baseAddress, e.baseAddress)
                } }
            } } }
        } } }
    }

    /// Solves the linear relaxation (integrality ignored): Clp with presolve and the dual simplex.
    public func solveLP(timeLimitS: Double = 600) -> LPSolution {
        let t0 = Date()
        guard let model = Clp_newModel() else { return LPSolution(status: .error("Clp_newModel failed"), solver: "clp") }
        defer { Clp_deleteModel(model) }
        Clp_setLogLevel(model, 0)
        load { Clp_loadProblem(model, $0, $1, $2, $3, $4, $5, $6, $7, $8, $9) }
        Clp_setOptimizationDirection(model, sense == .maximize ? -1 : 1)
        Clp_setMaximumSeconds(model, timeLimitS)
        // Perturbation always on (50; Clp's default, 100, perturbs only once it stalls) and no
        // scaling (Clp's default is automatic): on the oracle's programs, which are highly
        // degenerate, this took the dual simplex from 16-32 s to 1.2-1.7 s on the Azure hour's
        // slowest segments (12 req/s), and from 18 s to 6 s on mixed-slo.yaml (1,000 requests at
        // 10 req/s), with the same optimum to within 3e-5 (measured on their MPS files).
        Clp_setPerturbation(model, 50)
        Clp_scaling(model, 0)
        // Presolve, then the dual simplex, chosen explicitly: left to itself Clp's first solve
        // picked its "Idiot" crash for the oracle's programs and took 3–13× longer (azure-conv,
        // 2 minutes: 8.6 s against 0.68 s; barrier 2.6 s; primal 10 s).
        guard let options = ClpSolve_new() else { return LPSolution(status: .error("ClpSolve_new failed"), solver: "clp") }
        defer { ClpSolve_delete(options) }
        ClpSolve_setSolveType(options, 0, 0)  // 0: dual simplex
        ClpSolve_setPresolveType(options, 0, 5)  // 0: presolve on, 5 passes
        _ = Clp_initialSolveWithOptions(model, options)
        var x = Self.solution(model, count: numVariables)
        var status = Self.status(model)
        var pending = Array(lazyRows.indices)
        var added = 0, rounds = 0
        while let at = x {
            let violated = takeViolatedLazyRows(&pending, at: at)
            if violated.isEmpty { break }
            let remaining = timeLimitS - Date().timeIntervalSince(t0)
            guard remaining > 0 else {
                status = .limitReached
                x = nil
                break
            }
            addRows(violated, to: model)
            added += violated.count
            rounds += 1
            Clp_setMaximumSeconds(model, remaining)
            _ = Clp_dual(model, 0)
            status = Self.status(model)
            x = Self.solution(model, count: numVariables)
        }
        let value = status == .optimal ? Clp_objectiveValue(model) : .nan
        return LPSolution(status: status, objective: value, values: status == .optimal ? x ?? [] : [], bound: value,
                          solver: Self.clpName, seconds: Date().timeIntervalSince(t0), lazyRowsAdded: added, lazyRounds: rounds)
    }

    private static func status(_ model: UnsafeMutableRawPointer) -> LPSolution.Status {
        switch Clp_status(model) {
        case 0: return .optimal
        case 1: return .infeasible
        case 2: return .unbounded
        case 3: return .limitReached
        default: return .error("Clp status \(Clp_status(model)), secondary \(Clp_secondaryStatus(model))")
        }
    }

    /// The primal solution when Clp proved an optimum, nil otherwise.
    private static func solution(_ model: UnsafeMutableRawPointer, count: Int) -> [Double]? {
        guard status(model) == .optimal else { return nil }
        guard count > 0, let p = Clp_primalColumnSolution(model) else { return [] }
        return Array(UnsafeBufferPointer(start: p, count: count))
    }

    /// The pending lazy rows that `x` violates by more than Clp's primal tolerance (1e-7 per
    /// unit of the row's bound), removed from `pending`.
    private func takeViolatedLazyRows(_ pending: inout [Int], at x: [Double]) -> [Int] {
        var violated: [Int] = [], rest: [Int] = []
        for k in pending {
            let r = lazyRows[k]
            let scale = max(1, abs(r.lower.isFinite ? r.lower : 0), abs(r.upper.isFinite ? r.upper : 0))
            if Self.violation(of: r, at: x) > 1e-7 * scale { violated.append(k) } else { rest.append(k) }
        }
        pending = rest
        return violated
    }

    /// Appends lazy rows to a loaded Clp model (row-major, as `Clp_addRows` takes them).
    private func addRows(_ rows: [Int], to model: UnsafeMutableRawPointer) {
        var starts: [Int32] = [0], columns: [Int32] = [], values: [Double] = []
        for k in rows {
            for (c, v) in lazyRows[k].terms {
                columns.append(Int32(c))
                values.append(v)
            }
            starts.append(Int32(columns.count))
        }
        let lower = Self.finite(rows.map { lazyRows[$0].lower }), upper = Self.finite(rows.map { lazyRows[$0].upper })
        Clp_addRows(model, Int32(rows.count), lower, upper, starts, columns, values)
    }

    /// Solves the mixed-integer program with Cbc. `bound` is Cbc's best possible objective (equal
    /// to `objective` when proven optimal).
    public func solveMILP(timeLimitS: Double = 600) -> LPSolution {
        if !lazyRows.isEmpty { return withLazyRowsInline().solveMILP(timeLimitS: timeLimitS) }
        let t0 = Date()
        guard let model = Cbc_newModel() else { return LPSolution(status: .error("Cbc_newModel failed"), solver: "cbc") }
        defer { Cbc_deleteModel(model) }
        Cbc_setLogLevel(model, 0)
        load { Cbc_loadProblem(model, $0, $1, $2, $3, $4, $5, $6, $7, $8, $9) }
        for j in 0..<numVariables where isInteger[j] { Cbc_setInteger(model, Int32(j)) }
        Cbc_setObjSense(model, sense == .maximize ? -1 : 1)
        Cbc_setMaximumSeconds(model, timeLimitS)
        _ = Cbc_solve(model)
        let seconds = Date().timeIntervalSince(t0)
        let status: LPSolution.Status
        if Cbc_isProvenOptimal(model) != 0 {
            status = .optimal
        } else if Cbc_isProvenInfeasible(model) != 0 {
            status = .infeasible
        } else if Cbc_isContinuousUnbounded(model) != 0 {
            status = .unbounded
        } else if Cbc_isSecondsLimitReached(model) != 0 {
            status = .limitReached
        } else {
            status = .error("Cbc status \(Cbc_status(model)), secondary \(Cbc_secondaryStatus(model))")
        }
        var x: [Double] = []
        if status == .optimal, numVariables > 0, let p = Cbc_getColSolution(model) {
            x = Array(UnsafeBufferPointer(start: p, count: numVariables))
        }
        return LPSolution(status: status, objective: status == .optimal ? Cbc_getObjValue(model) : .nan, values: x,
                          bound: Cbc_getBestPossibleObjValue(model), solver: "cbc", seconds: seconds)
    }
}

/// A solver's answer. A value is present only with `.optimal`; every other status is reported
/// as that status, never as a number.
public struct LPSolution: Sendable {
    public enum Status: Sendable, Equatable, CustomStringConvertible {
        case optimal
        case infeasible
        case unbounded
        /// Stopped by the time limit (or an iteration limit) before proving optimality.
        case limitReached
        case error(String)

        public var description: String {
            switch self {
            case .optimal: return "optimal"
            case .infeasible: return "infeasible"
            case .unbounded: return "unbounded"
            case .limitReached: return "limit reached"
            case .error(let m): return "error: \(m)"
            }
        }
    }

    public var status: Status
    public var objective: Double = .nan
    public var values: [Double] = []
    /// The best bound the solver proved (MILP), or the LP optimum.
    public var bound: Double = .nan
    public var solver: String
    public var seconds: Double = 0
    /// Lazy rows the LP solve had to add, and the re-solves that took (see `addLazyConstraint`).
    public var lazyRowsAdded = 0
    public var lazyRounds = 0
    /// No program was solved: a feasible schedule attains the program's ceiling (see
    /// `SegmentProgram.attained(by:)`).
    public var attained = false
}
