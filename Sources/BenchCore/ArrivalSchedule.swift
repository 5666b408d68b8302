/// When each request of a workload becomes due. A request that is not a later turn of a session
/// is due at its `arrivalS` (open loop). A later turn is due its think time after the previous
/// turn of its session ended, however it ended (closed loop inside the session: a user reads the
/// answer, or the error, then writes again). Every driver (simulated engine, real-time engine,
/// load generator) takes its arrivals from here, so sessions mean the same everywhere.
public struct ArrivalSchedule: Sendable {
    public struct Entry: Sendable, Equatable {
        public var id: Int
        public var arrivalS: Double
        public var session: SessionTurn?

        public init(id: Int, arrivalS: Double, session: SessionTurn? = nil) {
            self.id = id
            self.arrivalS = arrivalS
            self.session = session
        }
    }

    let entries: [Entry]
    /// Indices due at their arrival, in (arrival, id) order, and the next one to hand out.
    let fixed: [Int]
    var nextFixed = 0
    /// Released later turns: a binary min-heap of (due, id, index).
    var released: [(dueS: Double, id: Int, index: Int)] = []
    /// The index of each request's next turn, by the request's id.
    let successor: [Int: Int]
    /// Later turns not yet released (their previous turn has not ended).
    public private(set) var heldBack: Set<Int>

    public init(_ entries: [Entry]) {
        self.entries = entries
        var byTurn: [SessionTurn: Int] = [:]
        for (i, e) in entries.enumerated() {
            if let s = e.session { byTurn[SessionTurn(id: s.id, turn: s.turn)] = i }
        }
        var successor: [Int: Int] = [:]
        var fixed: [Int] = []
        var held = Set<Int>()
        for (i, e) in entries.enumerated() {
            // A later turn whose previous turn is not in the workload (a segment of a split run)
            // is due at its nominal arrival.
            if let s = e.session, s.turn > 0, let prev = byTurn[SessionTurn(id: s.id, turn: s.turn - 1)] {
                successor[entries[prev].id] = i
                held.insert(i)
            } else {
                fixed.append(i)
            }
        }
        // Ties keep the given order (a workload's ids ascend with arrival).
        fixed.sort { (entries[$0].arrivalS, $0) < (entries[$1].arrivalS, $1) }
        self.fixed = fixed
        self.successor = successor
        heldBack = held
    }

    public init(_ requests: [WorkloadRequest]) {
        self.init(requests.map { Entry(id: $0.id, arrivalS: $0.arrivalS, session: $0.session) })
    }

    /// Whether any request is a later session turn (then offered rates are nominal only).
    public var hasSessions: Bool { !successor.isEmpty }

    /// The next request to become due and when, among those released; nil when none is (the
    /// rest, if any, wait for their previous turns).
    public func peek() -> (index: Int, dueS: Double)? {
        let f = nextFixed < fixed.count ? fixed[nextFixed] : nil
        switch (f, released.first) {
        case (nil, nil): return nil
        case (let i?, nil): return (i, entries[i].arrivalS)
        case (nil, let r?): return (r.index, r.dueS)
        case (let i?, let r?):
            return (entries[i].arrivalS, entries[i].id) <= (r.dueS, r.id) ? (i, entries[i].arrivalS) : (r.index, r.dueS)
        }
    }

    /// Takes the request `peek` returned.
    @discardableResult
    public mutating func pop() -> (index: Int, dueS: Double)? {
        guard let p = peek() else { return nil }
        if nextFixed < fixed.count && fixed[nextFixed] == p.index {
            nextFixed += 1
        } else {
            popReleased()
        }
        return p
    }

    /// The request `id` ended (finished, failed, rejected, aborted) at `t`: its session's next
    /// turn becomes due `thinkS` later.
    public mutating func ended(id: Int, atS t: Double) {
        guard let next = successor[id], heldBack.remove(next) != nil else { return }
        pushReleased((t + (entries[next].session?.thinkS ?? 0), entries[next].id, next))
    }

    /// Requests not yet handed out, released or held back.
    public var remaining: Int { fixed.count - nextFixed + released.count + heldBack.count }

    /// Every request not handed out (at the run's end: they never ran), in id order.
    public func notHandedOut() -> [Int] {
        (Array(fixed[nextFixed...]) + released.map(\.index) + Array(heldBack)).sorted { entries[$0].id < entries[$1].id }
    }

    // MARK: heap

    private static func less(_ a: (dueS: Double, id: Int, index: Int), _ b: (dueS: Double, id: Int, index: Int)) -> Bool {
        (a.dueS, a.id) < (b.dueS, b.id)
    }

    private mutating func pushReleased(_ x: (dueS: Double, id: Int, index: Int)) {
        released.append(x)
        var i = released.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard ArrivalSchedule.less(released[i], released[parent]) else { break }
            released.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func popReleased() {
        released.swapAt(0, released.count - 1)
        released.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < released.count && ArrivalSchedule.less(released[l], released[m]) { m = l }
            if r < released.count && ArrivalSchedule.less(released[r], released[m]) { m = r }
            if m == i { return }
            released.swapAt(i, m)
            i = m
        }
    }
}
