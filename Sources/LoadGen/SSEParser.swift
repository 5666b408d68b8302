/// One dispatched server-sent event.
///
/// `event` is nil when the event had no `event:` field (or an empty one), which the WHATWG
/// spec calls the default type "message". `id` is the stream's last event ID at dispatch time
/// (it persists across events, as the spec says), nil while that buffer is empty.
public struct SSEEvent: Sendable, Equatable {
    public var event: String?
    public var data: String
    public var id: String?

    public init(event: String? = nil, data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }
}

/// Incremental WHATWG-style event-stream parser (HTML Living Standard §9.2.6, "Interpreting
/// an event stream"): feed arbitrary byte slices — splits may fall anywhere, even inside a
/// CRLF or a UTF-8 character — and get complete events.
///
/// - Lines end with CRLF, LF or CR (a CR at the end of one slice followed by an LF at the start
///   of the next is one line end).
/// - A UTF-8 BOM at the very start of the stream is skipped (once).
/// - A line starting with `:` is a comment (keep-alive pings); it is ignored.
/// - `name: value` strips one space after the colon; a line without a colon is a field with an
///   empty value; field names are case-sensitive.
/// - `data` lines accumulate joined by "\n"; `event` sets the event name; `id` sets the last
///   event ID (ignored if the value contains NUL); `retry` and unknown fields are ignored.
/// - A blank line dispatches the event if the data buffer is non-empty (a `data:` line with an
///   empty value counts), then resets the data buffer and the event name either way.
/// - Field values are decoded as UTF-8 only when a line is complete; invalid sequences become
///   U+FFFD.
///
/// Hot path: complete lines inside a slice are interpreted in place; only a line cut by the
/// slice's end is copied into a carry-over buffer. No regex, no Foundation.
///
/// Size cap: a line or an event's data longer than `maxEventBytes` sets `oversized`, and the
/// parser ignores everything after it (a hostile server must not make the client buffer
/// without bound; the caller records the fault and drops the connection).
public struct SSEParser: Sendable {
    /// The longest line, and the most data one event may accumulate, in bytes.
    public let maxEventBytes: Int
    /// A line or an event went over `maxEventBytes`; nothing more is parsed.
    public private(set) var oversized = false
    /// Bytes of a line not yet terminated (cut by the end of the previous slice).
    private var partialLine: [UInt8] = []
    /// The previous slice ended with CR: an LF at the start of the next one belongs to it.
    private var skipLeadingLF = false
    /// The next complete line is the stream's first (where a BOM may sit).
    private var atStreamStart = true
    /// Data lines of the pending event, each followed by "\n".
    private var dataBuffer: [UInt8] = []
    /// The pending event's name; empty means none.
    private var eventName: [UInt8] = []
    private var lastEventID: String? = nil
    private var seen = 0

    public init(maxEventBytes: Int = .max) {
        self.maxEventBytes = maxEventBytes
    }

    /// Total bytes fed since `init()`.
    public var bytesSeen: Int { seen }

    public mutating func feed(_ bytes: [UInt8], _ emit: (SSEEvent) -> Void) {
        bytes.withUnsafeBytes { raw in feed(raw, emit) }
    }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (SSEEvent) -> Void) {
        let n = bytes.count
        guard n > 0, !oversized, let raw = bytes.baseAddress else { return }
        seen += n
        let base = raw.assumingMemoryBound(to: UInt8.self)
        var i = 0
        if skipLeadingLF {
            skipLeadingLF = false
            if base[0] == 0x0A { i = 1 }
        }
        var lineStart = i
        while i < n {
            let c = base[i]
            // CR (0x0D) and LF (0x0A) are the only bytes ≤ 0x0D that matter; one compare skips
            // all printable text.
            if c > 0x0D || (c != 0x0A && c != 0x0D) {
                i += 1
                continue
            }
            let line = UnsafeBufferPointer(start: base + lineStart, count: i - lineStart)
            if line.count + partialLine.count > maxEventBytes {
                oversized = true
                return
            }
            if partialLine.isEmpty {
                processLine(line, emit)
            } else {
                partialLine.append(contentsOf: line)
                var carried: [UInt8] = []
                swap(&carried, &partialLine)
                carried.withUnsafeBufferPointer { processLine($0, emit) }
                carried.removeAll(keepingCapacity: true)
                swap(&carried, &partialLine)
            }
            if oversized { return }
            i += 1
            if c == 0x0D {
                if i < n {
                    if base[i] == 0x0A { i += 1 }
                } else {
                    skipLeadingLF = true
                }
            }
            lineStart = i
        }
        if lineStart < n {
            if n - lineStart + partialLine.count > maxEventBytes {
                oversized = true
                return
            }
            partialLine.append(contentsOf: UnsafeBufferPointer(start: base + lineStart, count: n - lineStart))
        }
    }

    /// End of stream. The spec says an event not closed by a blank line is discarded; with
    /// `dispatchPartial` the unterminated last line (if any) is interpreted and the pending event
    /// is dispatched when its data buffer is non-empty — for servers that close the connection
    /// right after their last `data:` line. Default: the spec's behaviour (discard).
    ///
    /// Afterwards the parser is in its initial state (a following `feed` starts a new stream:
    /// BOM check re-armed, last event ID cleared), except that `bytesSeen` keeps counting.
    public mutating func finish(dispatchPartial: Bool = false, _ emit: (SSEEvent) -> Void) {
        if dispatchPartial && !oversized {
            if !partialLine.isEmpty {
                var carried: [UInt8] = []
                swap(&carried, &partialLine)
                carried.withUnsafeBufferPointer { processLine($0, emit) }
            }
            dispatch(emit)
        }
        partialLine.removeAll(keepingCapacity: true)
        dataBuffer.removeAll(keepingCapacity: true)
        eventName.removeAll(keepingCapacity: true)
        skipLeadingLF = false
        atStreamStart = true
        lastEventID = nil
        oversized = false
    }

    // MARK: line interpretation

    private mutating func processLine(_ line: UnsafeBufferPointer<UInt8>, _ emit: (SSEEvent) -> Void) {
        var start = 0
        let n = line.count
        if atStreamStart {
            atStreamStart = false
            if n >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF { start = 3 }
        }
        if start == n {
            dispatch(emit)
            return
        }
        if line[start] == 0x3A { return }  // ":" comment
        var colon = start
        while colon < n, line[colon] != 0x3A { colon += 1 }
        let nameLen = colon - start
        var valueStart = n
        if colon < n {
            valueStart = colon + 1
            if valueStart < n, line[valueStart] == 0x20 { valueStart += 1 }
        }
        let value = UnsafeBufferPointer(rebasing: line[valueStart..<n])
        let b0 = line[start]
        if nameLen == 4, b0 == 0x64, line[start + 1] == 0x61, line[start + 2] == 0x74, line[start + 3] == 0x61 {
            // data
            if dataBuffer.count + value.count > maxEventBytes {
                oversized = true
                return
            }
            dataBuffer.append(contentsOf: value)
            dataBuffer.append(0x0A)
        } else if nameLen == 5, b0 == 0x65, line[start + 1] == 0x76, line[start + 2] == 0x65, line[start + 3] == 0x6E,
                  line[start + 4] == 0x74 {
            // event
            eventName.removeAll(keepingCapacity: true)
            eventName.append(contentsOf: value)
        } else if nameLen == 2, b0 == 0x69, line[start + 1] == 0x64 {
            // id: a value containing NUL is ignored
            if !value.contains(0) {
                lastEventID = value.isEmpty ? nil : String(decoding: value, as: UTF8.self)
            }
        }
        // retry and unknown fields: ignored
    }

    private mutating func dispatch(_ emit: (SSEEvent) -> Void) {
        if dataBuffer.isEmpty {
            eventName.removeAll(keepingCapacity: true)
            return
        }
        dataBuffer.removeLast()  // the "\n" after the last data line
        let data = String(decoding: dataBuffer, as: UTF8.self)
        let name: String? = eventName.isEmpty ? nil : String(decoding: eventName, as: UTF8.self)
        dataBuffer.removeAll(keepingCapacity: true)
        eventName.removeAll(keepingCapacity: true)
        emit(SSEEvent(event: name, data: data, id: lastEventID))
    }
}
