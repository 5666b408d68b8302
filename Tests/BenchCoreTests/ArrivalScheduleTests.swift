import Foundation
import Testing
@testable import BenchCore

@Suite struct ArrivalScheduleTests {
    /// Two sessions of three turns and a single request. Later turns wait for their previous
    /// turn's end, then come think time later, merged in time order with fixed arrivals.
    @Test func laterTurnsAreDueThinkTimeAfterThePreviousEnds() {
        let e: [ArrivalSchedule.Entry] = [
            .init(id: 0, arrivalS: 0, session: SessionTurn(id: 0, turn: 0)),
            .init(id: 1, arrivalS: 1, session: SessionTurn(id: 1, turn: 0)),
            .init(id: 2, arrivalS: 2, session: SessionTurn(id: 0, turn: 1, thinkS: 2)),
            .init(id: 3, arrivalS: 3),
            .init(id: 4, arrivalS: 4, session: SessionTurn(id: 1, turn: 1, thinkS: 3)),
            .init(id: 5, arrivalS: 5, session: SessionTurn(id: 0, turn: 2, thinkS: 0.5)),
        ]
        var s = ArrivalSchedule(e)
        #expect(s.hasSessions && s.remaining == 6 && s.heldBack == [2, 4, 5])
        #expect(s.pop()! == (0, 0))
        #expect(s.pop()! == (1, 1))
        s.ended(id: 0, atS: 1.5)  // session 0's turn 1: due 3.5
        #expect(s.peek()! == (3, 3))
        #expect(s.pop()! == (3, 3))
        s.ended(id: 1, atS: 0.25)  // session 1's turn 1: due 3.25, before 3.5
        #expect(s.pop()! == (4, 3.25))
        #expect(s.pop()! == (2, 3.5))
        #expect(s.peek() == nil && s.remaining == 1)
        #expect(s.notHandedOut() == [5])
        s.ended(id: 2, atS: 10)
        s.ended(id: 2, atS: 11)  // a second end releases nothing more
        #expect(s.pop()! == (5, 10.5) && s.remaining == 0 && s.pop() == nil)
    }

    /// Without sessions the order is the arrival order, ties kept as given; a later turn whose
    /// previous turn is missing (a segment of a split run) is due at its nominal arrival.
    @Test func fixedArrivalsAndOrphanTurns() {
        var s = ArrivalSchedule([
            .init(id: 7, arrivalS: 1), .init(id: 3, arrivalS: 1), .init(id: 1, arrivalS: 0.5),
            .init(id: 9, arrivalS: 2, session: SessionTurn(id: 4, turn: 3, thinkS: 1)),
        ])
        #expect(!s.hasSessions)
        var order: [Int] = []
        while let p = s.pop() { order.append(p.index) }
        #expect(order == [2, 0, 1, 3])
    }

    @Test func sessionFieldsRoundTripAndAreChecked() throws {
        var r = WorkloadRequest(id: 4, arrivalS: 2.5, className: "chat", promptTokens: 300, outputTokens: 20)
        r.session = SessionTurn(id: 2, turn: 1, thinkS: 3.25)
        var w = JSONWriter()
        r.write(to: &w)
        let line = String(decoding: w.bytes, as: UTF8.self)
        #expect(line.hasSuffix(#""session":2,"turn":1,"think_s":3.25}"#))
        #expect(try WorkloadRequest.read(try JSONParser.parse(line), file: "w", line: 2) == r)
        for (bad, field) in [(#""turn":1,"#, "turn"), (#","think_s":3.25"#, "think_s"), (#""session":2,"#, "turn")] {
            do {
                _ = try WorkloadRequest.read(try JSONParser.parse(line.replacingOccurrences(of: bad, with: "")), file: "w", line: 2)
                Issue.record("accepted without \(bad)")
            } catch {
                #expect("\(error)".contains("w:2") && "\(error)".contains(field), "\(error)")
            }
        }
        var rec = RequestRecord(id: 4, className: "chat", intendedS: 2.5, sentS: 2.5, firstTokenS: 3, tokenTimesS: [3], doneS: 3,
                                status: "ok", promptTokens: 300, outputTokens: 1, tokenCountSource: .engine, slo: SLO(), metSLO: true)
        rec.session = 2
        rec.turn = 1
        let back = try RequestRecord.read(try JSONParser.parse(String(decoding: rec.jsonLine, as: UTF8.self)), file: "r", line: 1)
        #expect(back == rec)
    }
}

private func == (a: (index: Int, dueS: Double), b: (Int, Double)) -> Bool { a.index == b.0 && a.dueS == b.1 }
