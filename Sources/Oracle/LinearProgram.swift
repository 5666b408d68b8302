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

    public init(sense: Sense) {
        self.sense = sense
    }

    public var numVariables: Int { objective.count }
    public var numConstraints: Int { rowLower.count }
    public var numNonZeros: Int { entries.count }

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
        var activity = [Double](repeating: 0, count: numConstraints)
        for e in entries { activity[Int(e.row)] += e.value * x[Int(e.col)] }
        for i in 0..<numConstraints {
            worst = max(worst, rowLower[i] - activity[i], activity[i] - rowUpper[i])
        }
        return worst
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
                    loader(Int32(numVariables), Int32(numConstraints), s.baseAddress, i.baseAddress, v.baseAddress,
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
        // Presolve, then the dual simplex, chosen explicitly: left to itself Clp's first solve
        // picked its "Idiot" crash for the oracle's programs and took 3–13× longer (azure-conv,
        // 2 minutes: 8.6 s against 0.68 s; barrier 2.6 s; primal 10 s).
        guard let options = ClpSolve_new() else { return LPSolution(status: .error("ClpSolve_new failed"), solver: "clp") }
        defer { ClpSolve_delete(options) }
        ClpSolve_setSolveType(options, 0, 0)  // 0: dual simplex
        ClpSolve_setPresolveType(options, 0, 5)  // 0: presolve on, 5 passes
        _ = Clp_initialSolveWithOptions(model, options)
        let seconds = Date().timeIntervalSince(t0)
        let status: LPSolution.Status
        switch Clp_status(model) {
        case 0: status = .optimal
        case 1: status = .infeasible
        case 2: status = .unbounded
        case 3: status = .limitReached
        default: status = .error("Clp status \(Clp_status(model)), secondary \(Clp_secondaryStatus(model))")
        }
        var x: [Double] = []
        if status == .optimal, numVariables > 0, let p = Clp_primalColumnSolution(model) {
            x = Array(UnsafeBufferPointer(start: p, count: numVariables))
        }
        return LPSolution(status: status, objective: status == .optimal ? Clp_objectiveValue(model) : .nan, values: x,
                          bound: status == .optimal ? Clp_objectiveValue(model) : .nan, solver: "clp \(String(cString: Clp_Version()))",
                          seconds: seconds)
    }

    /// Solves the mixed-integer program with Cbc. `bound` is Cbc's best possible objective (equal
    /// to `objective` when proven optimal).
    public func solveMILP(timeLimitS: Double = 600) -> LPSolution {
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
}
